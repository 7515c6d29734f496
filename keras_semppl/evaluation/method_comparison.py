"""Every method, every protocol, side by side: the main job's report.

Protocols (each scored on the held-out images, fitted on the labelled
training images only):

* ``own``: each method's own classifier: SemPPL's k-NN pseudo-labeller over
  the labelled images (`own_classifier`), the supervised baseline's softmax
  head. This is the headline: it is what the method itself would predict,
  with nothing fitted after training.
* ``knn``: weighted k-NN on the encoder's features (Wu et al., 2018), with k
  at most the labels of the rarest class (`held_out_knn_k`), so a vote is
  never forced to include other classes.
* ``linear``: a linear probe on the frozen encoder's features.

The classical baselines (`classical_baselines`) work on raw pixels and have
one number each.
"""

import numpy as np

from keras_semppl.evaluation.classical_baselines import classical_baselines
from keras_semppl.evaluation.embed import embed_images
from keras_semppl.evaluation.knn_rule import held_out_knn_k
from keras_semppl.evaluation.own_classifier import own_classifier_accuracy
from keras_semppl.evaluation.protocols import evaluate_encoder

PROTOCOL_TITLES = {"own": "own classifier", "knn": "k-NN", "linear": "linear probe"}
CLASSICAL_TITLES = {
    "raw_knn": "raw-pixel k-NN",
    "raw_logistic": "raw-pixel logistic regression",
    "raw_svm": "raw-pixel RBF SVM",
    "label_spreading": "LabelSpreading (transductive)",
}


def encoder_accuracies(encoder, images, labels, val_images, val_labels, num_classes, seed=0):
    """{"knn": top-1, "linear": top-1} of a frozen encoder."""
    report = evaluate_encoder(
        encoder, images, labels, val_images, val_labels, num_classes,
        protocols=("knn", "linear"), knn_kwargs={"k": held_out_knn_k(labels)},
        linear_kwargs={"seed": seed})
    return {"knn": float(report["knn"].top1), "linear": float(report["linear"].top1)}


def compare_methods(images, labels, val_images, val_labels, num_classes, semppl=None,
                    supervised=None, classical=True, seed=0):
    """Held-out accuracy of every method under every protocol.

    Args:
        images: (N, H, W, C) training images at the encoder's input size;
            labels (N,), -1 = unlabelled.
        val_images: (M, H, W, C) held-out images; val_labels (M,).
        semppl: a trained `SemPPL`, or None.
        supervised: ``(classifier, encoder)`` of the supervised baseline
            (`train_supervised_baseline`), or None.
        classical: also run the raw-pixel baselines.

    Returns:
        {method: {protocol: accuracy}}: methods "SemPPL", "supervised", and
        the keys of `CLASSICAL_TITLES` (protocol "raw").
    """
    labels = np.asarray(labels)
    labelled = labels >= 0
    reference, reference_labels = np.asarray(images)[labelled], labels[labelled]
    val_labels = np.asarray(val_labels)
    accuracy = {}
    if semppl is not None:
        accuracy["SemPPL"] = {"own": own_classifier_accuracy(
            semppl, reference, reference_labels, val_images, val_labels)}
        accuracy["SemPPL"].update(encoder_accuracies(
            semppl.encoder, reference, reference_labels, val_images, val_labels,
            num_classes, seed))
    if supervised is not None:
        classifier, encoder = supervised
        logits = embed_images(classifier, val_images)
        accuracy["supervised"] = {"own": float(np.mean(np.argmax(logits, -1) == val_labels))}
        accuracy["supervised"].update(encoder_accuracies(
            encoder, reference, reference_labels, val_images, val_labels, num_classes, seed))
    if classical:
        for name, result in classical_baselines(images, labels, val_images, val_labels,
                                                seed=seed).items():
            accuracy[name] = {"raw": result["accuracy"]}
    return accuracy


def comparison_table(accuracy, knn_k=None):
    """The dict of `compare_methods` as an aligned text table."""
    protocols = [p for p in PROTOCOL_TITLES if any(p in s for s in accuracy.values())]
    titles = [PROTOCOL_TITLES[p] + (f" (k={knn_k})" if p == "knn" and knn_k else "")
              for p in protocols]
    names = {"SemPPL": "SemPPL", "supervised": "supervised baseline", **CLASSICAL_TITLES}
    width = max(len(names.get(m, m)) for m in accuracy) + 2
    lines = [" " * width + "  ".join(f"{t:>16}" for t in titles)]
    for method, scores in accuracy.items():
        if "raw" in scores:
            cells = [f"{scores['raw']:>16.3f}"] + [" " * 16] * (len(protocols) - 1)
        else:
            cells = [f"{scores[p]:>16.3f}" if p in scores else f"{'-':>16}" for p in protocols]
        lines.append(f"{names.get(method, method):<{width}}" + "  ".join(cells).rstrip())
    return "\n".join(lines)

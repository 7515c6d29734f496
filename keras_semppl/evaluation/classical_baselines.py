"""Classical baselines on raw pixels: what a deep method has to beat.

Four scikit-learn methods, each fitted on the same labelled images the
deep methods see, each with its settings chosen by cross-validation on
those labels alone (`baseline_tuning`, the same budget of trials for each):

* ``raw_knn``: distance-weighted k-NN on raw pixels (k chosen by CV);
* ``raw_logistic``: multinomial logistic regression on raw pixels (C);
* ``raw_svm``: an RBF support vector machine on raw pixels (C and gamma);
* ``label_spreading``: `sklearn.semi_supervised.LabelSpreading` with a k-NN
  kernel (k and alpha), transductive over the training images (labelled and
  unlabelled) plus the held-out images, whose labels it never sees
  (Zhou et al., 2004).

On the embedded digits split they cost a few seconds together.
"""

import time

import numpy as np

from keras_semppl.evaluation.baseline_tuning import GRIDS
from keras_semppl.evaluation.baseline_tuning import KnnGraph
from keras_semppl.evaluation.baseline_tuning import make_classifier
from keras_semppl.evaluation.baseline_tuning import spread_labels
from keras_semppl.evaluation.baseline_tuning import tune_classifier
from keras_semppl.evaluation.baseline_tuning import tune_label_spreading

BASELINES = ("raw_knn", "raw_logistic", "raw_svm", "label_spreading")


def _flat(images):
    images = np.asarray(images, "float32")
    return images.reshape(len(images), -1)


def classical_baselines(images, labels, val_images, val_labels, seed=0, settings=None):
    """Held-out accuracy of each baseline in `BASELINES`, tuned on the labels.

    Args:
        images: (N, H, W, C) training images; labels (N,), -1 = unlabelled.
        val_images: (M, H, W, C) held-out images with labels (M,).
        seed: seeds the folds and the estimators.
        settings: optional {name: settings} that replace the tuning for
            those baselines (keys as in `baseline_tuning.GRIDS`' entries).

    Returns:
        dict name -> {"accuracy": float, "seconds": float, "settings": dict,
        "cv_accuracy": float or None}; "seconds" includes the tuning.
    """
    labels = np.asarray(labels)
    val_labels = np.asarray(val_labels)
    fixed = dict(settings or {})
    unknown = set(fixed) - set(BASELINES)
    if unknown:
        raise ValueError(f"`settings` names unknown baselines {sorted(unknown)}; "
                         f"expected some of {BASELINES}.")
    if len(labels) != len(images) or len(val_labels) != len(val_images):
        raise ValueError("images/labels and val_images/val_labels must have equal lengths.")
    labelled = labels >= 0
    x, y = _flat(images[labelled]), labels[labelled]
    val = _flat(val_images)
    results = {}
    for name in ("raw_knn", "raw_logistic", "raw_svm"):
        start = time.perf_counter()
        chosen, cv_accuracy = ((dict(fixed[name]), None) if name in fixed
                               else tune_classifier(name, x, y, seed))
        if name == "raw_knn":
            chosen["k"] = min(chosen["k"], len(y))
        predictions = make_classifier(name, chosen, x, seed).fit(x, y).predict(val)
        results[name] = dict(accuracy=float(np.mean(predictions == val_labels)),
                             seconds=time.perf_counter() - start, settings=chosen,
                             cv_accuracy=cv_accuracy)
    start = time.perf_counter()
    everything = np.concatenate([_flat(images), val])
    visible = np.concatenate([np.where(labelled, labels, -1), np.full(len(val), -1)])
    largest = max([s["n_neighbors"] for s in GRIDS["label_spreading"]]
                  + [fixed.get("label_spreading", {}).get("n_neighbors", 0)])
    graph = KnnGraph(everything, largest)
    chosen, cv_accuracy = ((dict(fixed["label_spreading"]), None) if "label_spreading" in fixed
                           else tune_label_spreading(graph, visible, seed))
    predictions = spread_labels(graph, visible, chosen)[len(images):]
    results["label_spreading"] = dict(
        accuracy=float(np.mean(predictions == val_labels)),
        seconds=time.perf_counter() - start, settings=dict(kernel="knn", **chosen),
        cv_accuracy=cv_accuracy)
    return results

"""Runs the evaluation protocols on one encoder and collects an `EvaluationReport`."""

import numpy as np

from keras_semppl.evaluation.embed import embed_images
from keras_semppl.evaluation.finetune import finetune_evaluate
from keras_semppl.evaluation.knn_eval import knn_evaluate
from keras_semppl.evaluation.linear_probe import linear_probe_evaluate
from keras_semppl.evaluation.report import EvaluationReport

PROTOCOLS = ("knn", "linear", "finetune")


def parse_protocols(protocols):
    """"knn,linear" or a sequence -> a tuple of known protocol names."""
    if isinstance(protocols, str):
        protocols = [p.strip() for p in protocols.split(",") if p.strip()]
    protocols = tuple(protocols)
    unknown = [p for p in protocols if p not in PROTOCOLS]
    if unknown or not protocols:
        raise ValueError(f"Unknown protocol(s) {unknown or protocols!r}; choose from {PROTOCOLS}.")
    return protocols


def evaluate_encoder(encoder, train_images, train_labels, test_images, test_labels,
                     num_classes, protocols=PROTOCOLS, knn_kwargs=None, linear_kwargs=None,
                     finetune_kwargs=None, dataset="", class_names=None, batch_size=256):
    """Scores a frozen (k-NN, linear) and fine-tuned (finetune) encoder.

    Args:
        encoder: `keras.Model` (B, H, W, C) -> (B, F), e.g. `SemPPL.extract_encoder()`.
        train_images: (N, H, W, C) labelled images with labels (N,) in [0, C):
            k-NN references, probe and fine-tuning data. Rows with label -1
            are dropped.
        test_images: (M, H, W, C) with labels (M,).
        protocols: names from `PROTOCOLS` or "knn,linear".
        knn_kwargs / linear_kwargs / finetune_kwargs: passed to `knn_evaluate`,
            `linear_probe_evaluate`, `finetune_evaluate`.

    Returns:
        `EvaluationReport`.
    """
    protocols = parse_protocols(protocols)
    train_labels = np.asarray(train_labels)
    keep = train_labels >= 0
    train_images, train_labels = np.asarray(train_images)[keep], train_labels[keep]
    test_labels = np.asarray(test_labels)
    results = []
    if "knn" in protocols or "linear" in protocols:
        train_emb = embed_images(encoder, train_images, batch_size)
        test_emb = embed_images(encoder, test_images, batch_size)
    for protocol in protocols:
        if protocol == "knn":
            results.append(knn_evaluate(train_emb, train_labels, test_emb, test_labels,
                                        num_classes, **(knn_kwargs or {})))
        elif protocol == "linear":
            results.append(linear_probe_evaluate(train_emb, train_labels, test_emb, test_labels,
                                                 num_classes, **(linear_kwargs or {})))
        else:
            results.append(finetune_evaluate(encoder, train_images, train_labels, test_images,
                                             test_labels, num_classes, **(finetune_kwargs or {})))
    return EvaluationReport(results, dataset=dataset, num_classes=num_classes,
                            class_names=class_names)


def evaluate_arrays(encoder, data, **kwargs):
    """`evaluate_encoder` on `SemiSupervisedArrays`: labelled train images vs the val split."""
    kwargs.setdefault("class_names", list(getattr(data, "class_names", ()) or ()) or None)
    return evaluate_encoder(encoder, data.images, data.labels, data.val_images,
                            data.val_labels, data.num_classes, **kwargs)

"""Top-k accuracy and confusion matrix from class scores (NumPy)."""

import numpy as np


def top_k_accuracy(scores, labels, k):
    """Share of rows whose true class is among the k highest scores.

    Args:
        scores: (M, C) class scores (logits, probabilities or k-NN votes).
        labels: (M,) int true classes.
        k: int; clipped to C. Ties are broken by class index (lower first).

    Returns:
        float in [0, 1] (nan for M = 0).
    """
    scores = np.asarray(scores)
    labels = np.asarray(labels)
    if scores.ndim != 2 or len(scores) != len(labels):
        raise ValueError(f"scores must be (M, C) and labels (M,); got {scores.shape}, {labels.shape}.")
    if len(labels) == 0:
        return float("nan")
    k = min(int(k), scores.shape[1])
    # Stable sort of -scores: equal scores keep class order.
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(top == labels[:, None], axis=1)))


def confusion_matrix(labels, predictions, num_classes):
    """(C, C) int64 counts; row = true class, column = predicted class."""
    labels = np.asarray(labels, "int64")
    predictions = np.asarray(predictions, "int64")
    matrix = np.zeros((num_classes, num_classes), "int64")
    np.add.at(matrix, (labels, predictions), 1)
    return matrix

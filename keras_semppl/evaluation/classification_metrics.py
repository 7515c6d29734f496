"""Top-k accuracy and confusion matrix from class scores: scikit-learn's
`top_k_accuracy_score` and `confusion_matrix`, with the edge cases the
reports meet (k >= C, two classes, no rows) settled here."""

import numpy as np
from sklearn import metrics


def top_k_accuracy(scores, labels, k):
    """Share of rows whose true class is among the k highest scores.

    Args:
        scores: (M, C) class scores (logits, probabilities or k-NN votes).
        labels: (M,) int true classes in [0, C).
        k: int >= 1; k >= C counts every row as a hit. Equal scores rank
            the lower class first (a k-NN vote leaves many classes at 0).

    Returns:
        float in [0, 1] (nan for M = 0).
    """
    scores = np.asarray(scores, "float64")
    labels = np.asarray(labels, "int64")
    if scores.ndim != 2 or len(scores) != len(labels):
        raise ValueError(f"scores must be (M, C) and labels (M,); got {scores.shape}, {labels.shape}.")
    if int(k) < 1:
        raise ValueError(f"k must be >= 1; got {k}.")
    if len(labels) == 0:
        return float("nan")
    num_classes = scores.shape[1]
    if int(k) >= num_classes:
        return 1.0
    if num_classes == 2:  # scikit-learn takes one column for two classes
        return float(np.mean(np.argmax(scores, axis=1) == labels))
    # scikit-learn ranks the higher class first among equal scores: reversing
    # the class order makes the lower one win, as documented above.
    last = num_classes - 1
    return float(metrics.top_k_accuracy_score(last - labels, scores[:, ::-1], k=int(k),
                                              labels=np.arange(num_classes)))


def confusion_matrix(labels, predictions, num_classes):
    """(C, C) int64 counts; row = true class, column = predicted class."""
    return metrics.confusion_matrix(np.asarray(labels, "int64"),
                                    np.asarray(predictions, "int64"),
                                    labels=np.arange(num_classes)).astype("int64")

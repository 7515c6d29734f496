"""The one k-NN rule of the held-out reports (`semppl train` and `semppl evaluate`).

k is the weighted k-NN default (20, Wu et al., 2018) clipped to the number
of labels of the rarest labelled class, so that one class can win a vote on
its own references. Both commands call `held_out_knn_k` and print
`describe_knn_k`, so they score a model with the same k and say so.
"""

import numpy as np

from keras_semppl.evaluation.knn_eval import DEFAULT_K


def held_out_knn_k(labels, k=DEFAULT_K):
    """k of the held-out k-NN vote.

    Args:
        labels: (N,) int labels of the reference images; -1 (unlabelled) is
            ignored.
        k: the upper bound (default 20).

    Returns:
        int: ``k`` clipped to the labels of the rarest labelled class, at least 1.

    Raises:
        ValueError: no label >= 0, or ``k`` < 1.
    """
    if int(k) < 1:
        raise ValueError(f"k must be >= 1; got {k!r}.")
    labels = np.asarray(labels)
    counts = np.bincount(labels[labels >= 0].astype("int64"))
    counts = counts[counts > 0]
    if len(counts) == 0:
        raise ValueError("The k-NN rule needs at least one label >= 0.")
    return int(max(1, min(int(k), counts.min())))


def describe_knn_k(labels, k=DEFAULT_K):
    """One line naming the k that `held_out_knn_k` picks and why, e.g.
    "k-NN: k=14 (at most 20, clipped to the 14 labels of the rarest class)"."""
    chosen = held_out_knn_k(labels, k)
    if chosen < int(k):
        why = f"at most {int(k)}, clipped to the {chosen} labels of the rarest class"
    else:
        why = f"every class has at least {int(k)} labels"
    return f"k-NN: k={chosen} ({why})"

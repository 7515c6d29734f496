"""In-memory semi-supervised data sets and the splits that build them.

Any source (scikit-learn digits, a TFDS data set, NumPy files) can fill a
`SemiSupervisedArrays`; `stratified_split` and `select_labelled` give the
deterministic, class-balanced splits used by `load_digits`.
"""

import dataclasses

import numpy as np


@dataclasses.dataclass
class SemiSupervisedArrays:
    """A training set with hidden labels plus a labelled validation set.

    Attributes:
        images: float32 (N, H, W, C) in [0, 1], the training images.
        labels: int32 (N,), the class of labelled examples, -1 elsewhere.
        true_labels: int32 (N,), the real class of every training example
            (for monitoring only; never for training).
        val_images: float32 (M, H, W, C) in [0, 1].
        val_labels: int32 (M,).
        num_classes: number of classes K; labels lie in [0, K).
    """

    images: np.ndarray
    labels: np.ndarray
    true_labels: np.ndarray
    val_images: np.ndarray
    val_labels: np.ndarray
    num_classes: int

    def __post_init__(self):
        n, m = len(self.images), len(self.val_images)
        if len(self.labels) != n or len(self.true_labels) != n:
            raise ValueError(
                f"`labels` ({len(self.labels)}) and `true_labels` "
                f"({len(self.true_labels)}) must match `images` ({n}).")
        if len(self.val_labels) != m:
            raise ValueError(
                f"`val_labels` ({len(self.val_labels)}) must match `val_images` ({m}).")
        known = self.labels >= 0
        if np.any(self.labels[known] != self.true_labels[known]):
            raise ValueError("`labels` disagree with `true_labels` on labelled examples.")

    @property
    def labelled_mask(self):
        """bool (N,): True where the training label is visible."""
        return self.labels >= 0

    @property
    def num_labelled(self):
        return int(np.sum(self.labelled_mask))

    def counts(self):
        """int (K, 3): per class, labelled / unlabelled / validation counts."""
        k = self.num_classes
        mask = self.labelled_mask
        return np.stack([
            np.bincount(self.true_labels[mask], minlength=k),
            np.bincount(self.true_labels[~mask], minlength=k),
            np.bincount(self.val_labels, minlength=k),
        ], axis=1)

    def summary(self):
        """A small table of counts per class."""
        counts = self.counts()
        lines = [f"images {tuple(self.images.shape[1:])}, {self.num_classes} classes",
                 f"{'class':>5} {'labelled':>9} {'unlabelled':>11} {'val':>6}"]
        for c, (lab, unlab, val) in enumerate(counts):
            lines.append(f"{c:>5} {lab:>9} {unlab:>11} {val:>6}")
        lab, unlab, val = counts.sum(axis=0)
        lines.append(f"{'total':>5} {lab:>9} {unlab:>11} {val:>6}")
        return "\n".join(lines)


def stratified_split(labels, val_fraction, seed=0):
    """Splits indices into train and validation, class by class.

    Each class c with n_c examples sends round(val_fraction * n_c) of them,
    chosen at random with `seed`, to validation.

    Returns:
        (train_index, val_index): sorted int64 arrays partitioning
        range(len(labels)).
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"`val_fraction` must be in [0, 1); got {val_fraction}.")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    val = []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        val.append(members[:int(round(val_fraction * len(members)))])
    val_index = np.sort(np.concatenate(val)).astype(np.int64)
    train_index = np.setdiff1d(np.arange(len(labels)), val_index).astype(np.int64)
    return train_index, val_index


def select_labelled(true_labels, num_classes, label_fraction=None,
                    labels_per_class=None, seed=0):
    """Keeps the same number of labels in every class, hides the rest.

    Args:
        true_labels: int (N,) in [0, num_classes).
        num_classes: K.
        label_fraction: keep round(label_fraction * N / K) labels per class
            (at least 1). Ignored when `labels_per_class` is given.
        labels_per_class: exact count kept per class.
        seed: chooses which examples keep their labels.

    Returns:
        int32 (N,): the true label where kept, -1 elsewhere.

    Raises:
        ValueError: if a class has fewer examples than the requested count.
    """
    true_labels = np.asarray(true_labels)
    if labels_per_class is None:
        if label_fraction is None or not 0.0 < label_fraction <= 1.0:
            raise ValueError(f"`label_fraction` must be in (0, 1]; got {label_fraction}.")
        labels_per_class = max(1, int(round(label_fraction * len(true_labels) / num_classes)))
    if labels_per_class < 1:
        raise ValueError(f"`labels_per_class` must be >= 1; got {labels_per_class}.")
    rng = np.random.default_rng(seed)
    labels = np.full(len(true_labels), -1, np.int32)
    for c in range(num_classes):
        members = np.flatnonzero(true_labels == c)
        if len(members) < labels_per_class:
            raise ValueError(
                f"class {c} has {len(members)} examples, fewer than "
                f"labels_per_class={labels_per_class}.")
        keep = rng.choice(members, labels_per_class, replace=False)
        labels[keep] = c
    return labels

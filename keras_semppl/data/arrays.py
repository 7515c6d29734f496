"""In-memory semi-supervised data sets and the splits that build them.

Any source (scikit-learn digits, a TFDS data set, NumPy files) can fill a
`SemiSupervisedArrays` (or `SourceArrays`, which adds class names and
origin); `stratified_split`, `select_labelled` and `apply_label_budget` give
the deterministic, class-balanced splits used by every loader.
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

    @property
    def num_unknown(self):
        """Training examples whose true class is unknown (true label -1)."""
        return int(np.sum(self.true_labels < 0))

    def counts(self):
        """int (K, 3): per class, labelled / unlabelled / validation counts.

        Training examples with true label -1 (class unknown, e.g. from an
        unlabelled folder) are left out; see `num_unknown`.
        """
        k = self.num_classes
        known = self.true_labels >= 0
        mask = self.labelled_mask
        return np.stack([
            np.bincount(self.true_labels[mask], minlength=k),
            np.bincount(self.true_labels[~mask & known], minlength=k),
            np.bincount(self.val_labels, minlength=k),
        ], axis=1)

    def _summary_lines(self, names, head):
        counts = self.counts()
        width = max([5] + [len(n) for n in names])
        lines = [head, f"{'class':>{width}} {'labelled':>9} {'unlabelled':>11} {'val':>6}"]
        for name, (lab, unlab, val) in zip(names, counts):
            lines.append(f"{name:>{width}} {lab:>9} {unlab:>11} {val:>6}")
        if self.num_unknown:
            lines.append(f"{'(none)':>{width}} {0:>9} {self.num_unknown:>11} {0:>6}")
        lab, unlab, val = counts.sum(axis=0)
        lines.append(f"{'total':>{width}} {lab:>9} {unlab + self.num_unknown:>11} {val:>6}")
        return lines

    def summary(self):
        """A small table of counts per class (unknown-class examples on a line
        of their own, labelled "(none)")."""
        head = f"images {tuple(self.images.shape[1:])}, {self.num_classes} classes"
        return "\n".join(self._summary_lines(
            [str(c) for c in range(self.num_classes)], head))


@dataclasses.dataclass
class SourceArrays(SemiSupervisedArrays):
    """`SemiSupervisedArrays` that remembers where it came from.

    Attributes:
        class_names: tuple of K names, index = class id.
        skipped: list of file paths that could not be decoded and were
            skipped (image folders with `skip_corrupt=True`).
        source: a short description of the origin (folder or data set).
    """

    class_names: tuple = ()
    skipped: list = dataclasses.field(default_factory=list)
    source: str = ""

    def summary(self):
        """The per-class table with class names, plus the skipped-file count."""
        names = list(self.class_names) or [str(c) for c in range(self.num_classes)]
        head = f"images {tuple(self.images.shape[1:])}, {self.num_classes} classes"
        if self.source:
            head = f"{self.source}: {head}"
        lines = self._summary_lines(names, head)
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} undecodable file(s)")
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


HOLDOUTS = ("test", "validation")


def carve_validation(data, fraction, seed=0):
    """A validation set carved from the unlabelled training examples.

    Takes round(fraction * n_c) of the unlabelled training examples of every
    class c (their true labels are known to the loader, hidden from
    training), removes them from the training set and makes them the
    held-out set; the labelled examples and their labels are untouched and
    the original held-out (test) images are dropped, so nothing scored on the
    result has seen them.

    Args:
        data: a `SemiSupervisedArrays` (or subclass, kept).
        fraction: in (0, 1).

    Returns:
        The same type as `data`, with N - M training and M held-out examples.

    Raises:
        ValueError: if no unlabelled training example has a known class.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"the validation fraction must be in (0, 1); got {fraction}.")
    pool = np.flatnonzero((data.labels < 0) & (data.true_labels >= 0))
    if len(pool) == 0:
        raise ValueError(
            "A validation split is carved from unlabelled training images of known class, "
            "and this data set has none (every training label is visible, or the "
            "unlabelled images have no class).")
    _, carved = stratified_split(data.true_labels[pool], fraction, seed=seed)
    val_index = pool[carved]
    keep = np.setdiff1d(np.arange(len(data.labels)), val_index)
    return dataclasses.replace(
        data, images=data.images[keep], labels=data.labels[keep],
        true_labels=data.true_labels[keep], val_images=data.images[val_index],
        val_labels=data.true_labels[val_index].astype(np.int32))


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


def apply_label_budget(true_labels, num_classes, label_fraction=None,
                       labels_per_class=None, seed=0):
    """The visible labels of a labelled pool under an optional budget.

    With neither `label_fraction` nor `labels_per_class`, every label stays
    visible (a copy of `true_labels`); otherwise `select_labelled`.

    Returns:
        int32 (N,): the true label where kept, -1 elsewhere.
    """
    if label_fraction is None and labels_per_class is None:
        return np.asarray(true_labels).astype(np.int32, copy=True)
    return select_labelled(true_labels, num_classes, label_fraction,
                           labels_per_class, seed=seed)

"""The default data set, with no download: scikit-learn's bundled digits.

1,797 grayscale 8x8 handwritten digits (values 0-16, 10 classes), scaled to
[0, 1], resized bilinearly to `image_size` and tiled to three channels, so it
can stand in for CIFAR-like RGB input in tests and demos.
"""

import numpy as np
import tensorflow as tf
from sklearn import datasets

from keras_semppl.data.arrays import HOLDOUTS
from keras_semppl.data.arrays import SemiSupervisedArrays
from keras_semppl.data.arrays import carve_validation
from keras_semppl.data.arrays import select_labelled
from keras_semppl.data.arrays import stratified_split

NUM_CLASSES = 10


def digits_images(image_size=32, channels=3):
    """All digits as float32 (1797, image_size, image_size, channels) in [0, 1].

    Returns:
        (images, labels) with labels int32 (1797,).
    """
    if channels not in (1, 3):
        raise ValueError(f"`channels` must be 1 or 3; got {channels}.")
    if int(image_size) <= 0:
        raise ValueError(f"`image_size` must be positive; got {image_size}.")
    digits = datasets.load_digits()
    images = digits.images.astype(np.float32)[..., np.newaxis] / 16.0
    images = tf.image.resize(images, (image_size, image_size), method="bilinear")
    images = np.clip(images.numpy(), 0.0, 1.0)
    if channels == 3:
        images = np.repeat(images, 3, axis=-1)
    return images, digits.target.astype(np.int32)


# Seeds the test split alone, so that every `seed` is scored on the same images.
TEST_SPLIT_SEED = 20230501
# Before the test split was fixed, each seed s held out stratified_split's 20 %
# under seed (s, 0), and the defaults were screened on those images for these
# seeds. The test split is drawn from the digits none of them contains.
SCREENED_SEEDS = (0, 1, 2, 10, 11)


def fixed_test_split(targets, fraction):
    """Indices (train, test) of the fixed digits test split.

    Every class c sends round(fraction * n_c) examples to the test split,
    drawn (seed `TEST_SPLIT_SEED`) first from the examples that no screening
    run held out (`SCREENED_SEEDS`), then, if a large ``fraction`` needs
    more, from the rest.

    Returns:
        (train_index, test_index): sorted int64 arrays partitioning
        range(len(targets)).
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"`val_fraction` must be in [0, 1); got {fraction}.")
    screened = np.zeros(len(targets), bool)
    for seed in SCREENED_SEEDS:
        screened[stratified_split(targets, 0.2, seed=(seed, 0))[1]] = True
    rng = np.random.default_rng(TEST_SPLIT_SEED)
    test = []
    for c in np.unique(targets):
        members = np.flatnonzero(targets == c)
        order = np.concatenate([rng.permutation(members[~screened[members]]),
                                rng.permutation(members[screened[members]])])
        test.append(order[:int(round(fraction * len(members)))])
    test_index = np.sort(np.concatenate(test)).astype(np.int64)
    return np.setdiff1d(np.arange(len(targets)), test_index).astype(np.int64), test_index


def load_digits(image_size=32, val_fraction=0.2, label_fraction=0.1,
                labels_per_class=None, seed=0, channels=3, holdout="test"):
    """Digits as a semi-supervised problem, scored on a fixed test split.

    A stratified split keeps `val_fraction` of every class as the test set
    (`fixed_test_split`: with the default fraction, digits no earlier choice
    of this project's defaults was scored on). It does not depend on `seed`:
    seeds vary which training examples keep their label (and the caller's
    initialisation), never which images are scored. In the training part,
    the same number of examples per class keeps its label
    (`labels_per_class`, or round(label_fraction * N_train / 10)) and the
    rest get -1. With the defaults: 1,438 training examples of which 140
    labelled (14 per class), 359 test examples.

    With ``holdout="validation"`` the test images are left out altogether
    and the held-out set is carved from the unlabelled training examples
    instead (`carve_validation`, `val_fraction` of them per class): the
    split to choose settings on.

    Returns:
        `SemiSupervisedArrays` with images (N, image_size, image_size,
        channels) float32 in [0, 1].
    """
    if holdout not in HOLDOUTS:
        raise ValueError(f"`holdout` must be one of {HOLDOUTS}; got {holdout!r}.")
    images, targets = digits_images(image_size, channels)
    train_index, test_index = fixed_test_split(targets, val_fraction)
    true_labels = targets[train_index]
    labels = select_labelled(true_labels, NUM_CLASSES, label_fraction,
                             labels_per_class, seed=(seed, 1))
    data = SemiSupervisedArrays(
        images=images[train_index],
        labels=labels,
        true_labels=true_labels,
        val_images=images[test_index],
        val_labels=targets[test_index],
        num_classes=NUM_CLASSES,
    )
    if holdout == "validation":
        data = carve_validation(data, val_fraction, seed=(seed, 2))
    return data

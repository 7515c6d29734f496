"""`tf.data` pipelines feeding SemPPL training and evaluation.

The pipeline is TensorFlow under every Keras backend. A training element is a
dict:

- "large_views": tuple of L float32 (B, H, W, C) in [0, 1];
- "small_views": tuple of S float32 (B, h, w, C) (an empty tuple when S=0);
- "labels": int32 (B,), -1 for unlabelled examples;
- "ids": int32 (B,), the example's index in `images`;
- "true_labels": int32 (B,), only when `true_labels` is given (monitoring).

Randomness: shuffling and a per-element salt come from seeded `tf.data` ops
that draw afresh on every iteration (epoch) yet repeat exactly for a new
dataset built with the same seed; the views are stateless functions of
(view_fn's seed, salt, example id, view index).
"""

import numpy as np
import tensorflow as tf

from keras_semppl.data.fit_inputs import check_image_array

AUTOTUNE = tf.data.AUTOTUNE


def _check_batch_size(batch_size):
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size <= 0:
        raise ValueError(f"`batch_size` must be a positive int; got {batch_size!r}.")
    return int(batch_size)


def _check_images(images):
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(
            f"`images` must have rank 4 (N, H, W, C); got shape {images.shape}.")
    if images.shape[-1] not in (1, 3):
        raise ValueError(
            f"`images` must have 1 or 3 channels (last axis); got {images.shape[-1]} "
            f"channels in shape {images.shape}.")
    check_image_array(images, name="`images`")  # float dtype, finite, in [0, 1]
    return images.astype(np.float32, copy=False)


def _check_labels(labels, n, name, num_classes=None, minimum=-1):
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"`{name}` must have rank 1; got shape {labels.shape}.")
    if len(labels) != n:
        raise ValueError(f"`{name}` has {len(labels)} entries but `images` has {n}.")
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"`{name}` must be integers; got dtype {labels.dtype}.")
    upper = np.inf if num_classes is None else num_classes
    if labels.size and (labels.min() < minimum or labels.max() >= upper):
        raise ValueError(
            f"`{name}` must lie in [{minimum}, {upper}); got range "
            f"[{labels.min()}, {labels.max()}].")
    return labels.astype(np.int32)


def _seeds(seed, count):
    """`count` distinct int64 seeds derived from one int."""
    return [int(s) for s in np.random.SeedSequence(int(seed)).generate_state(count)]


def _stream(arrays, view_fn, shuffle, repeat, shuffle_seed, salt_seed, parallel):
    """Per-example dicts of views for one subset (dict of NumPy arrays)."""
    n = len(arrays["ids"])
    ds = tf.data.Dataset.from_tensor_slices(arrays)
    if shuffle:
        ds = ds.shuffle(n, seed=shuffle_seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    salts = tf.data.Dataset.random(seed=salt_seed, rerandomize_each_iteration=True)
    ds = tf.data.Dataset.zip(salts, ds)

    def to_views(salt, example):
        ids = example["ids"]
        large, small = view_fn(example["images"],
                               tf.stack([salt, tf.cast(ids, tf.int64)]))
        out = {"large_views": tuple(large), "small_views": tuple(small),
               "labels": example["labels"], "ids": ids}
        if "true_labels" in example:
            out["true_labels"] = example["true_labels"]
        return out

    return ds.map(to_views, num_parallel_calls=parallel)


def _subset(arrays, mask):
    return {key: value[mask] for key, value in arrays.items()}


def _concat(a, b):
    return tf.nest.map_structure(lambda x, y: tf.concat([x, y], axis=0), a, b)


def make_training_dataset(images, labels, batch_size, view_fn, true_labels=None,
                          seed=0, shuffle=True, drop_remainder=True,
                          labelled_per_batch=None, repeat=False, num_classes=None,
                          num_parallel_calls=AUTOTUNE):
    """Batches of augmented views for SemPPL training.

    Args:
        images: float (N, H, W, C) in [0, 1], C in {1, 3}.
        labels: int (N,) in [-1, num_classes); -1 marks unlabelled examples.
        batch_size: B, examples per batch.
        view_fn: `view_fn(image, example_seed) -> (large_views, small_views)`,
            e.g. `keras_semppl.augment.make_view_fn(...)`.
        true_labels: optional int (N,), the hidden labels, passed through as
            "true_labels" for monitoring; must agree with `labels` where
            those are >= 0.
        seed: seeds shuffling and the per-element salt.
        shuffle: shuffle the examples (reshuffled every epoch).
        drop_remainder: drop the last, smaller batch (of unlabelled examples
            when `labelled_per_batch` is set).
        labelled_per_batch: if set to k (1 <= k < B), every batch holds
            exactly k labelled examples, drawn from a labelled stream that
            repeats (oversamples) as needed, followed by B - k unlabelled
            ones; an epoch is one pass over the unlabelled examples. If None,
            batches are drawn uniformly from all examples.
        repeat: repeat forever (for `fit(steps_per_epoch=...)`).
        num_classes: if given, labels must be < num_classes.
        num_parallel_calls: parallelism of the augmentation map.

    Returns:
        A `tf.data.Dataset` of training dicts (see the module docstring).
    """
    batch_size = _check_batch_size(batch_size)
    images = _check_images(images)
    n = len(images)
    labels = _check_labels(labels, n, "labels", num_classes)
    if not callable(view_fn):
        raise TypeError(f"`view_fn` must be callable; got {type(view_fn).__name__}.")
    arrays = {"images": images, "labels": labels, "ids": np.arange(n, dtype=np.int32)}
    if true_labels is not None:
        true_labels = _check_labels(true_labels, n, "true_labels", num_classes)
        known = (labels >= 0) & (true_labels >= 0)
        if np.any(labels[known] != true_labels[known]):
            raise ValueError("`true_labels` disagree with `labels` on labelled examples.")
        arrays["true_labels"] = true_labels
    seeds = _seeds(seed, 4)

    if labelled_per_batch is None:
        if drop_remainder and not repeat and n < batch_size:
            raise ValueError(
                f"`batch_size`={batch_size} exceeds the {n} examples; with "
                "drop_remainder=True the dataset would be empty.")
        ds = _stream(arrays, view_fn, shuffle, repeat, seeds[0], seeds[1],
                     num_parallel_calls)
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
        return ds.prefetch(AUTOTUNE)

    k = labelled_per_batch
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k < batch_size:
        raise ValueError(
            f"`labelled_per_batch` must be an int in [1, batch_size={batch_size}); "
            f"got {k!r}. Use labelled_per_batch=None for uniform batches.")
    mask = labels >= 0
    num_labelled, num_unlabelled = int(mask.sum()), int((~mask).sum())
    if num_labelled == 0:
        raise ValueError("`labelled_per_batch` is set but `labels` has no labelled "
                         "example (all are -1).")
    if num_unlabelled == 0 or (drop_remainder and not repeat
                               and num_unlabelled < batch_size - k):
        raise ValueError(
            f"`labelled_per_batch`={k} needs at least batch_size - k = "
            f"{batch_size - k} unlabelled examples; `labels` has {num_unlabelled}.")
    labelled = _stream(_subset(arrays, mask), view_fn, shuffle, True, seeds[0], seeds[1],
                       num_parallel_calls).batch(k, drop_remainder=True)
    unlabelled = _stream(_subset(arrays, ~mask), view_fn, shuffle, repeat, seeds[2], seeds[3],
                         num_parallel_calls).batch(batch_size - k,
                                                   drop_remainder=drop_remainder)
    ds = tf.data.Dataset.zip(labelled, unlabelled).map(_concat)
    return ds.prefetch(AUTOTUNE)


def make_eval_dataset(images, labels, batch_size, image_size=None):
    """(images, labels) batches without augmentation.

    Args:
        images: float (N, H, W, C) in [0, 1], C in {1, 3}.
        labels: int (N,) >= 0.
        batch_size: examples per batch; the last batch may be smaller.
        image_size: if given (int or (height, width)), the full image is
            resized bilinearly to it, e.g. the large view size.

    Returns:
        A `tf.data.Dataset` of (float32 (B, H', W', C), int32 (B,)).
    """
    batch_size = _check_batch_size(batch_size)
    images = _check_images(images)
    labels = _check_labels(labels, len(images), "labels", minimum=0)
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch_size)
    if image_size is not None:
        size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        if size != images.shape[1:3]:
            ds = ds.map(lambda x, y: (tf.image.resize(x, size, method="bilinear"), y),
                        num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)

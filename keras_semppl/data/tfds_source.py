"""TensorFlow Datasets sources: small sets in memory, ImageNet as `tf.data`.

Nothing here downloads: every call passes `download=False`, so a data set
must already be prepared in `data_dir` (`tfds build NAME --data_dir=...`, or
the manual-download steps for ImageNet). `tensorflow_datasets` is imported
lazily, on first use, because the import is slow.
"""

import dataclasses
import logging
import os

import numpy as np
import tensorflow as tf

from keras_semppl.data.arrays import SourceArrays
from keras_semppl.data.arrays import apply_label_budget
from keras_semppl.data.arrays import stratified_split
from keras_semppl.data.images import resize_if_needed
from keras_semppl.data.images import size_pair

#: Data sets whose own split is the held-out set (others: a share of the
#: labelled pool). Any data set with an image and a class label works.
EVAL_SPLITS = {"cifar10": "test", "cifar100": "test", "stl10": "test",
               "imagenette": "validation"}
#: Extra unlabelled split used when `unlabelled_split` is None.
DEFAULT_UNLABELLED_SPLIT = {"stl10": "unlabelled"}
_BATCH = 1024


#: The extra that installs tensorflow-datasets.
TFDS_EXTRA = 'pip install "keras-semppl[tfds]"'


def _tfds():
    """The `tensorflow_datasets` module; ImportError naming the extra when it is missing."""
    try:
        import tensorflow_datasets as tfds  # noqa: PLC0415 (slow import, lazy)
    except ImportError as error:
        if getattr(error, "name", None) == "tensorflow_datasets":
            raise ImportError(f"TFDS data sets need tensorflow-datasets, which is not "
                              f"installed: {TFDS_EXTRA}.", name=error.name) from None
        raise
    return tfds


def tfds_data_dir(data_dir=None):
    """The folder TFDS reads: ``data_dir``, else TFDS' default (``TFDS_DATA_DIR`` when
    TFDS was imported, or ``~/tensorflow_datasets``)."""
    if data_dir:
        return str(data_dir)
    try:
        from tensorflow_datasets.core import constants  # noqa: PLC0415

        return str(constants.DATA_DIR)
    except (ImportError, AttributeError):
        return os.path.expanduser(os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets")


class _HeldRecords(logging.Filter):
    """A logging filter that keeps the records it stops."""

    def __init__(self):
        super().__init__()
        self.records = []

    def filter(self, record):
        self.records.append(record)
        return False


def _load(name, split, data_dir, shuffle_files=False):
    """`tfds.load(..., download=False)` with a clear error when not prepared.

    Returns:
        (dataset of feature dicts, `tfds.core.DatasetInfo`).
    """
    tfds = _tfds()
    # TFDS logs a warning about the empty folder before it fails; the error
    # below says it all, so its log lines are shown only when the load works.
    held = _HeldRecords()
    logger = logging.getLogger("absl")
    logger.addFilter(held)
    try:
        loaded = tfds.load(name, split=split, data_dir=data_dir, download=False,
                           shuffle_files=shuffle_files, with_info=True)
        logger.removeFilter(held)
        for record in held.records:
            logger.handle(record)
        return loaded
    except AssertionError as error:
        folder = tfds_data_dir(data_dir)
        raise ValueError(
            f"TFDS data set {name!r} is not prepared in {folder} "
            f"(split {split!r}); download=False is used, so prepare it first, e.g. "
            f"`tfds build {name} --data_dir={folder}`. ({error})") from None
    except tfds.core.registered.DatasetNotFoundError:
        raise ValueError(
            f"Unknown TFDS data set {name!r} (data_dir={tfds_data_dir(data_dir)}).") from None
    finally:
        logger.removeFilter(held)


def _num_classes(info, label_key):
    feature = info.features[label_key]
    if not hasattr(feature, "num_classes"):
        raise ValueError(f"Feature {label_key!r} of {info.name!r} is not a class label.")
    return int(feature.num_classes)


def _to_arrays(ds, info, image_key, label_key, size):
    """All examples of `ds` as float32 (N, H, W, C) in [0, 1] and int32 (N,)."""
    if size is None:
        shape = info.features[image_key].shape
        if shape[0] is None or shape[1] is None:
            raise ValueError(
                f"{info.name!r} images have no fixed size; pass image_size.")
        size = (shape[0], shape[1])
    height, width = size

    def convert(example):
        image = resize_if_needed(example[image_key], (height, width), 255.0)
        image = tf.ensure_shape(image, (height, width, None)) / 255.0
        return image, tf.cast(example[label_key], tf.int32)

    images, labels = [], []
    ds = ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE).batch(_BATCH)
    for image, label in ds.as_numpy_iterator():
        images.append(image.astype(np.float32, copy=False))
        labels.append(label)
    if not images:
        raise ValueError(f"{info.name!r}: the requested split is empty.")
    return np.concatenate(images), np.concatenate(labels).astype(np.int32)


def load_tfds(name, data_dir, split="train", labelled_split=None, unlabelled_split=None,
              image_size=None, label_fraction=None, labels_per_class=None,
              val_split=None, val_fraction=0.0, seed=0, image_key="image",
              label_key="label"):
    """A small TFDS image-classification set as a semi-supervised problem.

    Sources of examples:
      - labelled pool: `labelled_split` if given, else `split`. Its labels are
        thinned by the budget (`labels_per_class`, or round(label_fraction *
        N / K) per class; with neither, every label is kept).
      - `unlabelled_split`: extra training examples with label -1 (their
        true labels are kept for monitoring; -1 where the split has none,
        as for STL-10 'unlabelled'). None means the data set's default
        (`DEFAULT_UNLABELLED_SPLIT`, i.e. 'unlabelled' for stl10); pass
        False for none.
      - validation: `val_split` if given, else a stratified `val_fraction`
        of the labelled pool.

    Args:
        name: TFDS name, optionally with config/version ("imagenette/160px-v2").
        data_dir: where the data set is prepared (None: TFDS default).
        split, labelled_split, unlabelled_split, val_split: TFDS split strings
            ("train", "test", "train[:10%]", ...).
        image_size: int or (height, width); default the data set's fixed
            size (required for variable-size sets such as imagenette).
            Other sizes are resized (aspect not kept).
        label_fraction, labels_per_class, val_fraction, seed: as in
            `load_image_folder`.
        image_key, label_key: feature names.

    Returns:
        `SourceArrays`: images float32 (N, H, W, C) in [0, 1], labels int32
        (N,) (-1 hidden), val_images float32 (M, H, W, C), val_labels (M,).

    Raises:
        ValueError: data set unknown or not prepared in `data_dir` (naming
            both), or variable image size without `image_size`.
    """
    if val_split is not None and val_fraction:
        raise ValueError("Pass either `val_split` or `val_fraction`, not both.")
    size = size_pair(image_size)
    base_name = name.split("/")[0].split(":")[0]
    if unlabelled_split is None:
        unlabelled_split = DEFAULT_UNLABELLED_SPLIT.get(base_name)

    pool_split = labelled_split if labelled_split is not None else split
    ds, info = _load(name, pool_split, data_dir)
    num_classes = _num_classes(info, label_key)
    images, targets = _to_arrays(ds, info, image_key, label_key, size)
    size = images.shape[1:3]

    if val_split is not None:
        val_ds, _ = _load(name, val_split, data_dir)
        val_images, val_labels = _to_arrays(val_ds, info, image_key, label_key, size)
        train_index = np.arange(len(targets))
    elif val_fraction:
        train_index, val_index = stratified_split(targets, val_fraction, seed=(seed, 0))
        val_images, val_labels = images[val_index], targets[val_index]
    else:
        train_index = np.arange(len(targets))
        val_images = np.zeros((0,) + images.shape[1:], np.float32)
        val_labels = np.zeros((0,), np.int32)
    true_labels = targets[train_index]
    labels = apply_label_budget(true_labels, num_classes, label_fraction,
                                labels_per_class, seed=(seed, 1))
    train_images = images[train_index] if len(train_index) < len(images) else images

    if unlabelled_split:
        extra_ds, _ = _load(name, unlabelled_split, data_dir)
        extra_images, extra_true = _to_arrays(extra_ds, info, image_key, label_key, size)
        extra_true = np.where(extra_true >= 0, extra_true, -1).astype(np.int32)
        train_images = np.concatenate([train_images, extra_images])
        labels = np.concatenate([labels, np.full(len(extra_true), -1, np.int32)])
        true_labels = np.concatenate([true_labels, extra_true])

    names = getattr(info.features[label_key], "names", None) or ()
    return SourceArrays(
        images=train_images,
        labels=labels.astype(np.int32),
        true_labels=true_labels.astype(np.int32),
        val_images=val_images.astype(np.float32, copy=False),
        val_labels=val_labels.astype(np.int32),
        num_classes=num_classes,
        class_names=tuple(names),
        source=f"tfds {name}",
    )


@dataclasses.dataclass
class ImagenetSubset:
    """Streaming ImageNet with the SimCLR 1% / 10% labelled subsets.

    Attributes:
        labelled: dataset of {"image", "label" int32 in [0, 1000)} from
            'imagenet2012_subset/{percent}pct' train.
        unlabelled: dataset of {"image", "label" int32 = -1, "true_label"
            int32} from 'imagenet2012' train (all of it, labelled subset
            included, as in SimCLR and SemPPL).
        eval: dataset of {"image", "label"} from 'imagenet2012' validation.
        num_classes: 1000.
        num_labelled, num_unlabelled, num_eval: example counts from the
            data set info (0 when unknown).

    "image" is uint8 (H, W, 3) of varying size when `image_size` is None,
    else float32 (S, S, 3) in [0, 1]. Elements are unbatched.
    """

    labelled: tf.data.Dataset
    unlabelled: tf.data.Dataset
    eval: tf.data.Dataset
    num_classes: int
    num_labelled: int = 0
    num_unlabelled: int = 0
    num_eval: int = 0


def _split_size(info, split):
    try:
        return int(info.splits[split].num_examples)
    except (KeyError, ValueError):
        return 0


def tfds_imagenet_subset(data_dir, percent=1, image_size=None, shuffle_files=False):
    """ImageNet semi-supervised splits as `tf.data` (too big for memory).

    Args:
        data_dir: where 'imagenet2012' and 'imagenet2012_subset' are prepared.
        percent: 1 or 10, the SimCLR labelled subset.
        image_size: None (keep decoded uint8 images of varying size, for
            crop-based augmentation) or int / (height, width) to resize to,
            float32 in [0, 1].
        shuffle_files: passed to `tfds.load` for the two training splits.

    Returns:
        `ImagenetSubset`.
    """
    if percent not in (1, 10):
        raise ValueError(f"`percent` must be 1 or 10; got {percent!r}.")
    size = size_pair(image_size)
    subset_name = f"imagenet2012_subset/{percent}pct"
    labelled, subset_info = _load(subset_name, "train", data_dir, shuffle_files)
    unlabelled, info = _load("imagenet2012", "train", data_dir, shuffle_files)
    evaluation, _ = _load("imagenet2012", "validation", data_dir)

    def image_of(example):
        image = example["image"]
        if size is not None:
            image = resize_if_needed(image, size, 255.0) / 255.0
        return image

    def keep(example):
        return {"image": image_of(example), "label": tf.cast(example["label"], tf.int32)}

    def hide(example):
        label = tf.cast(example["label"], tf.int32)
        return {"image": image_of(example), "label": tf.constant(-1, tf.int32),
                "true_label": label}

    auto = tf.data.AUTOTUNE
    return ImagenetSubset(
        labelled=labelled.map(keep, num_parallel_calls=auto),
        unlabelled=unlabelled.map(hide, num_parallel_calls=auto),
        eval=evaluation.map(keep, num_parallel_calls=auto),
        num_classes=_num_classes(info, "label"),
        num_labelled=_split_size(subset_info, "train"),
        num_unlabelled=_split_size(info, "train"),
        num_eval=_split_size(info, "validation"),
    )

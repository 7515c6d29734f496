"""Image folders (`root/<class>/<image>`) as in-memory semi-supervised data.

Files are decoded with `tf.io.decode_image` inside a parallel `tf.data` map,
so tens of thousands of small JPEG/PNG files load in seconds. Everything is
held in memory as float32: fine at CIFAR or STL scale, not at ImageNet scale.
"""

import collections
import os

import numpy as np
import tensorflow as tf

from keras_semppl.data.arrays import SourceArrays  # noqa: F401 (re-exported)
from keras_semppl.data.arrays import apply_label_budget
from keras_semppl.data.arrays import stratified_split
from keras_semppl.data.images import resize_if_needed
from keras_semppl.data.images import size_pair

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
_BATCH = 512


def _image_files(folder):
    """Sorted paths of image files under `folder` (recursive, hidden skipped)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS):
                found.append(os.path.join(dirpath, name))
    return sorted(found)


def _decode_error(path):
    """The decoder's message for a file that failed, for the ValueError."""
    try:
        tf.io.decode_image(tf.io.read_file(path), expand_animations=False)
    except Exception as error:  # noqa: BLE001 (any decoder failure is reported)
        return f"{type(error).__name__}: {str(error).strip().splitlines()[0]}"
    return "decoding failed"


def _indexed(paths):
    return tf.data.Dataset.from_tensor_slices(
        (tf.range(len(paths), dtype=tf.int64), tf.constant(paths, tf.string)))


def _image_shapes(paths):
    """int (N, 2) heights and widths, -1 where the file cannot be read.

    JPEG sizes come from the header alone; other formats are decoded.
    """
    def shape(index, path):
        data = tf.io.read_file(path)
        hw = tf.cond(
            tf.io.is_jpeg(data),
            lambda: tf.cast(tf.image.extract_jpeg_shape(data)[:2], tf.int32),
            lambda: tf.shape(tf.io.decode_image(data, expand_animations=False))[:2])
        return index, hw

    shapes = np.full((len(paths), 2), -1, np.int64)
    ds = (_indexed(paths).map(shape, num_parallel_calls=tf.data.AUTOTUNE)
          .ignore_errors().batch(4096))
    for index, hw in ds.as_numpy_iterator():
        shapes[index] = hw
    return shapes


def decode_images(paths, image_size, channels=3):
    """Decodes image files into one float32 array.

    Args:
        paths: list of N file paths.
        image_size: (height, width); images of another size are resized
            (bilinear, antialiased).
        channels: 1 or 3; grayscale is expanded to RGB and RGB reduced to
            grayscale as needed (an alpha channel is dropped).

    Returns:
        (images, shapes): float32 (N, height, width, channels) in [0, 1], and
        int64 (N, 2) the original heights and widths, -1 for files that could
        not be decoded (their image rows are zero).
    """
    height, width = size_pair(image_size)

    def decode(index, path):
        image = tf.io.decode_image(tf.io.read_file(path), channels=channels,
                                   expand_animations=False)
        hw = tf.shape(image)[:2]
        image = tf.cast(tf.round(resize_if_needed(image, (height, width), 255.0)), tf.uint8)
        return index, hw, tf.ensure_shape(image, (height, width, channels))

    images = np.zeros((len(paths), height, width, channels), np.float32)
    shapes = np.full((len(paths), 2), -1, np.int64)
    ds = (_indexed(paths).map(decode, num_parallel_calls=tf.data.AUTOTUNE)
          .ignore_errors().batch(_BATCH).prefetch(2))
    for index, hw, batch in ds.as_numpy_iterator():
        images[index] = batch * np.float32(1.0 / 255.0)
        shapes[index] = hw
    return images, shapes


def _most_common(shapes):
    """The most frequent (height, width); ties go to the larger area."""
    common = collections.Counter(map(tuple, shapes)).most_common()
    best = max(common, key=lambda item: (item[1], item[0][0] * item[0][1], item[0]))
    return tuple(int(s) for s in best[0])


def _list_classes(root, exclude):
    if not os.path.isdir(root):
        raise ValueError(f"Image folder {root!r} does not exist or is not a directory.")
    classes = sorted(
        entry.name for entry in os.scandir(root)
        if entry.is_dir() and not entry.name.startswith(".")
        and os.path.realpath(entry.path) != exclude)
    if not classes:
        raise ValueError(
            f"Image folder {root!r} has no class sub-folders; expected the layout "
            "root/<class>/<image>.")
    return classes


def load_image_folder(root, unlabelled_dir=None, image_size=None, channels=3,
                      val_fraction=0.0, label_fraction=None, labels_per_class=None,
                      seed=0, skip_corrupt=False):
    """Loads `root/<class>/<image>` as a semi-supervised problem.

    Classes are the sub-folders of `root` sorted by name (class id = rank);
    images are found recursively inside each and sorted by path. Files whose
    extension is not one of `IMAGE_EXTENSIONS` are ignored. Images from
    `unlabelled_dir` (searched recursively; it may lie inside `root`, then it
    is not a class) join the training set with label and true label -1.

    Splits, all deterministic given `seed`: a stratified `val_fraction` of
    every class goes to validation; of the rest, the same number per class
    keeps its label (`labels_per_class`, or round(label_fraction * N / K)
    with N the class-folder training images); with neither given, every
    class-folder image keeps its label.

    Args:
        root: folder of class folders.
        unlabelled_dir: optional folder of images without class.
        image_size: int or (height, width); default the most common size
            among the images. Other sizes are resized (aspect not kept).
        channels: 1 or 3.
        val_fraction: in [0, 1).
        label_fraction, labels_per_class: the label budget (see above).
        seed: seeds the validation split and the choice of labelled examples.
        skip_corrupt: skip undecodable files (listed in `.skipped`) instead
            of raising.

    Returns:
        `SourceArrays`: images float32 (N, H, W, channels) in [0, 1], labels
        int32 (N,) with -1 for hidden labels, val_images (M, H, W, channels).

    Raises:
        ValueError: missing/empty folders (naming the folder), an undecodable
            file when `skip_corrupt` is False (naming the file), or a label
            budget larger than a class.
    """
    if channels not in (1, 3):
        raise ValueError(f"`channels` must be 1 or 3; got {channels}.")
    root = os.fspath(root)
    exclude = None
    if unlabelled_dir is not None:
        unlabelled_dir = os.fspath(unlabelled_dir)
        if not os.path.isdir(unlabelled_dir):
            raise ValueError(
                f"Unlabelled folder {unlabelled_dir!r} does not exist or is not a directory.")
        exclude = os.path.realpath(unlabelled_dir)
    class_names = _list_classes(root, exclude)

    paths, targets = [], []
    for c, name in enumerate(class_names):
        files = _image_files(os.path.join(root, name))
        if not files:
            raise ValueError(
                f"Class folder {os.path.join(root, name)!r} contains no image files "
                f"(accepted extensions: {', '.join(IMAGE_EXTENSIONS)}).")
        paths += files
        targets += [c] * len(files)
    num_labelled_files = len(paths)
    if unlabelled_dir is not None:
        extra = _image_files(unlabelled_dir)
        if not extra:
            raise ValueError(f"Unlabelled folder {unlabelled_dir!r} contains no image files.")
        paths += extra
        targets += [-1] * len(extra)
    targets = np.asarray(targets, np.int32)

    size = size_pair(image_size)
    if size is None:
        # Guess from the first files' headers, decode once, and decode again
        # only when the most common size over all files differs from the guess.
        first = _image_shapes(paths[:256])
        first = first[first[:, 0] >= 0]
        guess = _most_common(first) if len(first) else (32, 32)
        images, shapes = decode_images(paths, guess, channels)
        readable = shapes[:, 0] >= 0
        if readable.any():
            size = _most_common(shapes[readable])
            if size != guess:
                images, shapes = decode_images(paths, size, channels)
    else:
        images, shapes = decode_images(paths, size, channels)
    ok = shapes[:, 0] >= 0
    skipped = [p for p, good in zip(paths, ok) if not good]
    if skipped and not skip_corrupt:
        raise ValueError(
            f"Cannot decode image file {skipped[0]!r} ({_decode_error(skipped[0])})"
            + (f" and {len(skipped) - 1} other file(s)" if len(skipped) > 1 else "")
            + "; pass skip_corrupt=True to skip such files.")

    is_class = np.arange(len(paths)) < num_labelled_files
    class_index = np.flatnonzero(is_class & ok)
    extra_index = np.flatnonzero(~is_class & ok)
    for c, name in enumerate(class_names):
        if not np.any(targets[class_index] == c):
            raise ValueError(
                f"Class folder {os.path.join(root, name)!r} has no decodable image.")

    num_classes = len(class_names)
    if val_fraction:
        train_pos, val_pos = stratified_split(targets[class_index], val_fraction,
                                              seed=(seed, 0))
    else:
        train_pos, val_pos = np.arange(len(class_index)), np.arange(0)
    train_index, val_index = class_index[train_pos], class_index[val_pos]
    true_labels = targets[train_index]
    labels = apply_label_budget(true_labels, num_classes, label_fraction,
                                labels_per_class, seed=(seed, 1))

    all_train = np.concatenate([train_index, extra_index])
    return SourceArrays(
        images=images[all_train],
        labels=np.concatenate([labels, np.full(len(extra_index), -1, np.int32)]),
        true_labels=np.concatenate([true_labels, targets[extra_index]]).astype(np.int32),
        val_images=images[val_index],
        val_labels=targets[val_index].astype(np.int32),
        num_classes=num_classes,
        class_names=tuple(class_names),
        skipped=skipped,
        source=f"folder {root}",
    )

"""Image sizes and resizing shared by the data sources and the evaluation."""

import numpy as np
import tensorflow as tf


def size_pair(image_size):
    """None, an int or (height, width) -> None or a (height, width) tuple of ints.

    Raises:
        ValueError: not a positive int or pair of positive ints.
    """
    if image_size is None:
        return None
    if isinstance(image_size, (int, np.integer)):
        size = (int(image_size), int(image_size))
    else:
        size = tuple(int(s) for s in image_size)
    if len(size) != 2 or min(size) <= 0:
        raise ValueError(
            f"`image_size` must be a positive int or (height, width); got {image_size!r}.")
    return size


def resize_if_needed(images, size, max_value):
    """Images at (height, width) ``size``, as float32 in [0, max_value].

    Args:
        images: (H, W, C) or (N, H, W, C), any real dtype, values in
            [0, max_value].
        size: (height, width).
        max_value: 1.0 for [0, 1] floats, 255.0 for 8-bit values.

    Returns:
        A float32 `tf.Tensor`: the images unchanged (cast) when they already
        have that size, else resized bilinearly with antialiasing (aspect not
        kept) and clipped back to [0, max_value].
    """
    height, width = size
    images = tf.convert_to_tensor(images)
    shape = tf.shape(images)
    same = tf.logical_and(tf.equal(shape[-3], height), tf.equal(shape[-2], width))
    return tf.cond(
        same,
        lambda: tf.cast(images, tf.float32),
        lambda: tf.clip_by_value(
            tf.image.resize(images, (height, width), antialias=True), 0.0, max_value),
    )

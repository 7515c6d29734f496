"""Random resized crop with stateless seeds, for use inside `tf.data`.

The crop of BYOL (Grill et al. 2020, after Szegedy et al. 2015): pick a box
whose area is a uniform fraction `area_range` of the image and whose aspect
ratio (width / height) is log-uniform in `aspect_ratio_range`, place it
uniformly inside the image, and resize it to `size`. Every random number comes
from `tf.random.stateless_*` ops, so the crop is a pure function of the seed.
"""

import math

import tensorflow as tf

DEFAULT_AREA_RANGE = (0.08, 1.0)
DEFAULT_ASPECT_RATIO_RANGE = (3.0 / 4.0, 4.0 / 3.0)


def _as_size(size):
    if isinstance(size, int):
        size = (size, size)
    size = tuple(int(s) for s in size)
    if len(size) != 2 or min(size) <= 0:
        raise ValueError(f"`size` must be a positive int or (height, width); got {size}.")
    return size


def _check_range(name, value, low, high):
    lo, hi = float(value[0]), float(value[1])
    if not (low <= lo <= hi <= high):
        raise ValueError(
            f"`{name}` must satisfy {low} <= min <= max <= {high}; got {value}."
        )
    return lo, hi


def sample_crop_boxes(seed, batch_size, image_height, image_width,
                      area_range=DEFAULT_AREA_RANGE,
                      aspect_ratio_range=DEFAULT_ASPECT_RATIO_RANGE,
                      max_attempts=10):
    """Samples normalised crop boxes, one per image.

    Args:
        seed: int tensor of shape (2,), a stateless seed.
        batch_size: number of boxes B (int or scalar tensor).
        image_height, image_width: image size in pixels (ints or scalars).
        area_range: (min, max) fraction of the image area kept.
        aspect_ratio_range: (min, max) width / height of the crop.
        max_attempts: proposals per image; the first one that fits inside the
            image is used, and the whole image when none fits.

    Returns:
        float32 tensor of shape (B, 4): (y1, x1, y2, x2) in [0, 1], the box
        format of `tf.image.crop_and_resize`.
    """
    area_lo, area_hi = _check_range("area_range", area_range, 0.0, 1.0)
    if area_lo <= 0.0:
        raise ValueError(f"`area_range` must be > 0; got {area_range}.")
    ratio_lo, ratio_hi = _check_range("aspect_ratio_range", aspect_ratio_range,
                                      1e-6, math.inf)
    seeds = tf.random.experimental.stateless_split(seed, num=4)
    shape = tf.stack([batch_size, max_attempts])
    area = tf.random.stateless_uniform(shape, seeds[0], area_lo, area_hi)
    log_ratio = tf.random.stateless_uniform(
        shape, seeds[1], math.log(ratio_lo), math.log(ratio_hi))
    ratio = tf.exp(log_ratio)
    # Box height and width as fractions of the image height and width:
    # (h * H) * (w * W) = area * H * W and (w * W) / (h * H) = ratio.
    hw_ratio = tf.cast(image_height, tf.float32) / tf.cast(image_width, tf.float32)
    w = tf.sqrt(area * ratio * hw_ratio)
    h = tf.sqrt(area / ratio / hw_ratio)
    fits = (w <= 1.0) & (h <= 1.0)
    # Index of the first proposal that fits; `max_attempts` when none does.
    attempt = tf.broadcast_to(tf.range(max_attempts), shape)
    first = tf.reduce_min(tf.where(fits, attempt, max_attempts), axis=1)
    pad = tf.ones([batch_size, 1])  # Fallback: the whole image.
    h = tf.gather(tf.concat([h, pad], 1), first, axis=1, batch_dims=1)
    w = tf.gather(tf.concat([w, pad], 1), first, axis=1, batch_dims=1)
    offsets = tf.random.stateless_uniform(tf.stack([batch_size, 2]), seeds[2])
    y1 = offsets[:, 0] * (1.0 - h)
    x1 = offsets[:, 1] * (1.0 - w)
    return tf.stack([y1, x1, y1 + h, x1 + w], axis=1)


def random_resized_crop(images, size, seed, area_range=DEFAULT_AREA_RANGE,
                        aspect_ratio_range=DEFAULT_ASPECT_RATIO_RANGE,
                        method="bilinear", max_attempts=10):
    """Crops a random box of each image and resizes it to `size`.

    Args:
        images: float tensor (H, W, C) or a batch (B, H, W, C).
        size: int or (height, width) of the output.
        seed: int tensor of shape (2,); the result is a function of it.
            Each image of a batch gets its own box.
        area_range: fraction of the image area kept; BYOL: (0.08, 1.0).
        aspect_ratio_range: width / height range; BYOL: (3/4, 4/3).
        method: "bilinear" or "nearest" (`tf.image.crop_and_resize`).
        max_attempts: proposals per image before falling back to the whole
            image.

    Returns:
        float32 tensor (h, w, C) or (B, h, w, C), matching the input rank.
    """
    out_h, out_w = _as_size(size)
    images = tf.convert_to_tensor(images)
    rank = images.shape.rank
    if rank not in (3, 4):
        raise ValueError(
            f"`images` must have rank 3 (H, W, C) or 4 (B, H, W, C); got shape {images.shape}."
        )
    batch = images if rank == 4 else images[tf.newaxis]
    if not batch.dtype.is_floating:
        batch = tf.image.convert_image_dtype(batch, tf.float32)
    batch = tf.cast(batch, tf.float32)
    dims = tf.shape(batch)
    boxes = sample_crop_boxes(seed, dims[0], dims[1], dims[2], area_range,
                              aspect_ratio_range, max_attempts)
    crops = tf.image.crop_and_resize(
        batch, boxes, tf.range(dims[0]), (out_h, out_w), method=method)
    return crops if rank == 4 else crops[0]

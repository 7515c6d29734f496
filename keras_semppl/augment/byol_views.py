"""BYOL view augmentations with stateless seeds, for `tf.data`.

Parameters follow BYOL (Grill et al. 2020, "Bootstrap your own latent",
Table 6): random resized crop (area 0.08-1, aspect 3/4-4/3), horizontal flip
p=0.5, colour jitter p=0.8 (brightness 0.4, contrast 0.4, saturation 0.2,
hue 0.1, in random order), grayscale p=0.2, Gaussian blur (sigma 0.1-2.0,
kernel about 10% of the image side) with p=1.0 in view one and p=0.1 in view
two, solarize with p=0 in view one and p=0.2 in view two.

Every random draw is a `tf.random.stateless_*` op whose seed is derived from
(global seed, per-example seed, view index), so a view is a pure function of
those three. All ops work on one image (H, W, C) with values in [0, 1].

Grayscale inputs (C=1) keep one channel: brightness and contrast apply,
while saturation, hue and grayscale conversion are identities (as they are,
up to rounding, on an image whose three channels are equal). The random draws
are the same for C=1 and C=3, so a C=1 image gives, up to float rounding, the
views of the same image tiled to three channels, at a third of the cost.
Other channel counts raise ValueError.
"""

import dataclasses
from typing import NamedTuple, Optional, Tuple

import tensorflow as tf

from keras_semppl.augment.random_resized_crop import random_resized_crop

SUPPORTED_CHANNELS = (1, 3)
_NUM_OP_SEEDS = 10


@dataclasses.dataclass(frozen=True)
class ViewConfig:
    """Augmentation parameters of one view (defaults: BYOL view one).

    Attributes:
        size: output side in pixels; the view is (size, size, C).
        area_range, aspect_ratio_range: random resized crop parameters.
        flip_prob: probability of a horizontal flip.
        jitter_prob: probability of applying colour jitter.
        brightness: additive brightness delta drawn in [-b, b].
        contrast, saturation: factors drawn in [1 - s, 1 + s].
        hue: hue delta drawn in [-h, h] (fraction of a full turn).
        jitter_random_order: apply the four jitter ops in a random order.
        grayscale_prob: probability of converting to grayscale.
        blur_prob: probability of a Gaussian blur.
        blur_sigma_range: blur standard deviation range, in pixels.
        blur_kernel_size: odd kernel side; None gives BYOL's rule, about 10%
            of `size` (3 px at 32, 23 px at 224).
        solarize_prob: probability of solarizing (x -> 1 - x where x >= 0.5).
        solarize_threshold: the solarize threshold.
        resize_method: "bilinear" or "nearest", used by the crop.
    """

    size: int = 32
    area_range: Tuple[float, float] = (0.08, 1.0)
    aspect_ratio_range: Tuple[float, float] = (3.0 / 4.0, 4.0 / 3.0)
    flip_prob: float = 0.5
    jitter_prob: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.2
    hue: float = 0.1
    jitter_random_order: bool = True
    grayscale_prob: float = 0.2
    blur_prob: float = 1.0
    blur_sigma_range: Tuple[float, float] = (0.1, 2.0)
    blur_kernel_size: Optional[int] = None
    solarize_prob: float = 0.0
    solarize_threshold: float = 0.5
    resize_method: str = "bilinear"

    def __post_init__(self):
        if int(self.size) <= 0:
            raise ValueError(f"`size` must be positive; got {self.size}.")
        for name in ("flip_prob", "jitter_prob", "grayscale_prob", "blur_prob",
                     "solarize_prob"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"`{name}` must be in [0, 1]; got {value}.")
        for name in ("brightness", "contrast", "saturation"):
            if getattr(self, name) < 0:
                raise ValueError(f"`{name}` must be >= 0; got {getattr(self, name)}.")
        if not 0.0 <= self.hue <= 0.5:
            raise ValueError(f"`hue` must be in [0, 0.5]; got {self.hue}.")
        lo, hi = self.blur_sigma_range
        if not 0.0 < lo <= hi:
            raise ValueError(
                f"`blur_sigma_range` must satisfy 0 < min <= max; got {self.blur_sigma_range}.")
        k = self.blur_kernel_size
        if k is not None and (k <= 0 or k % 2 == 0):
            raise ValueError(f"`blur_kernel_size` must be a positive odd int; got {k}.")

    @property
    def blur_radius(self):
        """Half-width r of the blur kernel (kernel side 2r + 1)."""
        if self.blur_kernel_size is not None:
            return self.blur_kernel_size // 2
        return max(1, (self.size // 10) // 2)


class ViewSet(NamedTuple):
    """The large and small view configurations of one training example."""

    large: Tuple[ViewConfig, ...]
    small: Tuple[ViewConfig, ...] = ()


# Small crops after SwAV's multi-crop (Caron et al. 2020): area 0.05-0.14.
SMALL_AREA_RANGE = (0.05, 0.14)


def byol_view_configs(num_large=2, num_small=0, large_size=32, small_size=16,
                      large_area_range=(0.08, 1.0),
                      small_area_range=SMALL_AREA_RANGE):
    """BYOL's asymmetric views, alternating view one / view two.

    Views with an even index (within the large and within the small views)
    use BYOL view one (blur p=1.0, solarize p=0), odd ones view two (blur
    p=0.1, solarize p=0.2). Small views use SwAV's multi-crop area range
    (0.05, 0.14) by default; their other parameters are BYOL's.

    Returns:
        `ViewSet(large=(ViewConfig,) * num_large, small=(ViewConfig,) * num_small)`.
    """
    if num_large < 1:
        raise ValueError(f"`num_large` must be >= 1; got {num_large}.")
    if num_small < 0:
        raise ValueError(f"`num_small` must be >= 0; got {num_small}.")

    def config(index, size, area_range):
        two = index % 2 == 1
        return ViewConfig(size=size, area_range=tuple(area_range),
                          blur_prob=0.1 if two else 1.0,
                          solarize_prob=0.2 if two else 0.0)

    return ViewSet(
        large=tuple(config(i, large_size, large_area_range) for i in range(num_large)),
        small=tuple(config(i, small_size, small_area_range) for i in range(num_small)),
    )


def _uniform(seed, lo=0.0, hi=1.0):
    return tf.random.stateless_uniform([], seed, lo, hi)


def _maybe(prob, seed, fn, image):
    """`fn(image)` with probability `prob`, else `image`."""
    if prob <= 0.0:
        return image
    if prob >= 1.0:
        return fn(image)
    return tf.cond(_uniform(seed) < prob, lambda: fn(image), lambda: image)


def color_jitter(image, config, seed):
    """BYOL colour jitter of one image (H, W, C); with C=1, saturation and hue
    are identities. Each op is followed by clipping to [0, 1]."""
    seeds = tf.random.experimental.stateless_split(seed, num=5)
    channels = image.shape[-1]
    ops = []
    if config.brightness > 0:
        delta = _uniform(seeds[0], -config.brightness, config.brightness)
        ops.append(lambda x: tf.image.adjust_brightness(x, delta))
    if config.contrast > 0:
        factor = _uniform(seeds[1], 1 - config.contrast, 1 + config.contrast)
        ops.append(lambda x: tf.image.adjust_contrast(x, factor))
    # With one channel, saturation and hue stay in the op list as identities
    # so that the random order matches the one drawn for a 3-channel image.
    if config.saturation > 0:
        factor_s = _uniform(seeds[2], 1 - config.saturation, 1 + config.saturation)
        ops.append(lambda x: tf.image.adjust_saturation(x, factor_s)
                   if channels == 3 else x)
    if config.hue > 0:
        delta_h = _uniform(seeds[3], -config.hue, config.hue)
        ops.append(lambda x: tf.image.adjust_hue(x, delta_h) if channels == 3 else x)
    clipped = [lambda x, op=op: tf.clip_by_value(op(x), 0.0, 1.0) for op in ops]
    if not config.jitter_random_order or len(clipped) < 2:
        for op in clipped:
            image = op(image)
        return image
    order = tf.argsort(tf.random.stateless_uniform([len(clipped)], seeds[4]))

    def step(i, x):
        # A loop traces each op once (an unrolled loop traces it per position).
        x = tf.switch_case(order[i], [lambda op=op: op(x) for op in clipped])
        return i + 1, tf.ensure_shape(x, image.shape)

    _, image = tf.while_loop(lambda i, x: i < len(clipped), step,
                             (tf.constant(0), image))
    return image


def to_grayscale(image):
    """(H, W, 3) -> (H, W, 3) with equal channels; (H, W, 1) unchanged."""
    if image.shape[-1] == 1:
        return image
    return tf.tile(tf.image.rgb_to_grayscale(image), [1, 1, 3])


def gaussian_blur(image, sigma, radius):
    """Separable Gaussian blur of (H, W, C), kernel 2r+1, symmetric padding."""
    channels = image.shape[-1]
    x = tf.range(-radius, radius + 1, dtype=tf.float32)
    weights = tf.exp(-0.5 * tf.square(x / sigma))
    weights = weights / tf.reduce_sum(weights)
    k = 2 * radius + 1
    kernel_h = tf.tile(tf.reshape(weights, [k, 1, 1, 1]), [1, 1, channels, 1])
    kernel_w = tf.reshape(kernel_h, [1, k, channels, 1])
    padded = tf.pad(image[tf.newaxis], [[0, 0], [radius, radius], [radius, radius], [0, 0]],
                    mode="SYMMETRIC")
    out = tf.nn.depthwise_conv2d(padded, kernel_h, [1, 1, 1, 1], "VALID")
    out = tf.nn.depthwise_conv2d(out, kernel_w, [1, 1, 1, 1], "VALID")
    return out[0]


def solarize(image, threshold=0.5):
    """x -> 1 - x where x >= threshold, for values in [0, 1]."""
    return tf.where(image < threshold, image, 1.0 - image)


def check_channels(image, name="image"):
    """Raises ValueError unless the last axis holds 1 or 3 channels."""
    channels = image.shape[-1]
    if channels not in SUPPORTED_CHANNELS:
        raise ValueError(
            f"`{name}` must have 1 or 3 channels (last axis); got {channels} "
            f"channels in shape {tuple(image.shape)}.")


def augment_view(image, config, seed):
    """One BYOL view of one image.

    Args:
        image: float tensor (H, W, C), C in {1, 3}, values in [0, 1].
        config: a `ViewConfig`.
        seed: int tensor of shape (2,).

    Returns:
        float32 tensor (config.size, config.size, C) in [0, 1].
    """
    check_channels(image)
    s = tf.random.experimental.stateless_split(seed, num=_NUM_OP_SEEDS)
    view = random_resized_crop(image, config.size, s[0], config.area_range,
                               config.aspect_ratio_range, config.resize_method)
    view = _maybe(config.flip_prob, s[1], tf.image.flip_left_right, view)
    view = _maybe(config.jitter_prob, s[2], lambda x: color_jitter(x, config, s[3]), view)
    view = _maybe(config.grayscale_prob, s[4], to_grayscale, view)
    sigma = _uniform(s[6], *config.blur_sigma_range)
    view = _maybe(config.blur_prob, s[5],
                  lambda x: gaussian_blur(x, sigma, config.blur_radius), view)
    view = _maybe(config.solarize_prob, s[7],
                  lambda x: solarize(x, config.solarize_threshold), view)
    return tf.clip_by_value(view, 0.0, 1.0)


def _view_seed(global_seed, example_seed, view_index):
    key = tf.constant([global_seed, 0], tf.int64)
    example_seed = tf.reshape(tf.cast(example_seed, tf.int64), [-1])
    for i in range(example_seed.shape[0]):
        key = tf.random.experimental.stateless_fold_in(key, example_seed[i])
    return tf.random.experimental.stateless_fold_in(key, view_index)


def make_view_fn(view_configs, seed=0):
    """Builds `view_fn(image, example_seed) -> (large_views, small_views)`.

    Args:
        view_configs: a `ViewSet` or a pair (large configs, small configs),
            e.g. from `byol_view_configs`.
        seed: the global seed (int).

    The returned function takes `image`, a float tensor (H, W, C) in [0, 1]
    (integer images are rescaled from their dtype's range), and
    `example_seed`, an int scalar or an int vector of static length (the
    training pipeline passes (per-iteration salt, example id)). It returns
    a tuple of L tensors (size_l, size_l, C) and a tuple of S tensors
    (size_s, size_s, C), each a deterministic function of
    (seed, example_seed, view index). It uses only TensorFlow ops, so it can
    run inside `tf.data.Dataset.map` under any Keras backend.
    """
    large, small = (tuple(v) for v in view_configs)
    if not large:
        raise ValueError("`view_configs` needs at least one large view.")
    for config in large + small:
        if not isinstance(config, ViewConfig):
            raise TypeError(f"Expected ViewConfig entries; got {type(config).__name__}.")
    global_seed = int(seed)

    def view_fn(image, example_seed):
        image = tf.convert_to_tensor(image)
        if image.shape.rank != 3:
            raise ValueError(
                f"`image` must have rank 3 (H, W, C); got shape {tuple(image.shape)}.")
        check_channels(image)
        if not image.dtype.is_floating:
            image = tf.image.convert_image_dtype(image, tf.float32)
        image = tf.cast(image, tf.float32)
        views = [augment_view(image, config, _view_seed(global_seed, example_seed, i))
                 for i, config in enumerate(large + small)]
        return tuple(views[:len(large)]), tuple(views[len(large):])

    view_fn.view_configs = ViewSet(large, small)
    return view_fn

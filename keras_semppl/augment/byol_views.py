"""The view recipe: BYOL's two view distributions as Keras preprocessing layers.

One `ViewConfig` holds the parameters of one view distribution;
`view_layers(config)` turns it into a `keras.layers.Pipeline` of Keras core
preprocessing layers plus four small layers of ours:

    RandomResizedCrop(size, area_range, aspect_ratio_range)      [ours]
    RandomFlip("horizontal")                    p = flip_prob
    RandomApply(RandomColorJitter(...), jitter_prob)              [RandomApply: ours]
    RandomGrayscale(grayscale_prob)             (3-channel images)
    RandomGaussianBlur(blur_prob, kernel, sigma range)           [ours]
    RandomApply(Solarize(threshold), solarize_prob)               [ours]

The same pipeline serves both placements (`keras_semppl.augment.make_view_fn`
for `tf.data`, `keras_semppl.augment.DeviceViews` for the train step); each
placement builds its own layer instances from the `ViewConfig`.

Parameters (BYOL: Grill et al. 2020, "Bootstrap your own latent", Table 6,
and its code, google-deepmind/deepmind-research byol/utils/augmentations.py):

- crop area 0.08-1, aspect ratio 3/4-4/3 (log-uniform) [BYOL];
- horizontal flip p=0.5 [BYOL];
- colour jitter p=0.8: brightness delta in [-0.4, 0.4] (additive, as
  `tf.image.random_brightness`), contrast factor in [0.6, 1.4] around each
  channel's mean, saturation factor in [0.8, 1.2], hue delta in
  [-0.1, 0.1] of a turn [BYOL];
- grayscale p=0.2 [BYOL];
- Gaussian blur: sigma 0.1-2.0, kernel 2 * (size // 10 // 2) + 1 (23 px at
  224, the `kernel_size = image_size // 10` radius rule of BYOL's code),
  p=1.0 in view one and 0.1 in view two [BYOL];
- solarize at 0.5 with p=0 in view one and p=0.2 in view two [BYOL].

How Keras' layers differ from BYOL's TensorFlow code (measured or read off
Keras 3.15's sources):

- the four jitter ops run in a fixed order (brightness, contrast,
  saturation, hue); BYOL shuffles the order per image;
- Keras' saturation layer draws f uniformly and scales by f / (1 - f): with
  f in [(1 - s) / (2 - s), (1 + s) / (2 + s)] the factor spans BYOL's
  [1 - s, 1 + s] but is not uniform on it;
- the blur is ours (`keras_semppl.augment.gaussian_blur`): Keras'
  `RandomGaussianBlur` convolves with the full 2-D kernel, 11x the work of
  BYOL's separable one at 224 px, and draws one sigma pair per batch;
- 1-channel images skip saturation, hue and grayscale (identities on a gray
  image), as before.

Small images. At 32 px BYOL's kernel rule gives 3 taps; with sigma up to 2 the
taps are (0.32, 0.36, 0.32), a box blur over 10% of the side, ten times
BYOL's relative blur at 224 px (sigma 2 = 0.9% of the side). SimCLR
(Chen et al. 2020, appendix B.9) drops the blur on CIFAR-10 and solo-learn's
BYOL CIFAR recipe sets its probability to 0 in both views; `SMALL_IMAGE_VIEWS`
does the same and scales the sigma range with the image side (0.014-0.29 px
at 32 px), so that enabling the blur gives BYOL's relative strength.
"""

import dataclasses
from typing import NamedTuple, Optional, Tuple

import keras

from keras_semppl.augment.gaussian_blur import RandomGaussianBlur
from keras_semppl.augment.random_apply import RandomApply
from keras_semppl.augment.random_resized_crop import RandomResizedCrop
from keras_semppl.augment.solarize import Solarize

SUPPORTED_CHANNELS = (1, 3)
#: Side at which BYOL's parameters are given.
BYOL_SIZE = 224


@dataclasses.dataclass(frozen=True)
class ViewConfig:
    """Parameters of one view distribution (defaults: BYOL view one, 224 px).

    Attributes:
        size: output side in pixels; the view is (size, size, C).
        area_range, aspect_ratio_range: random resized crop parameters.
        flip_prob: probability of a horizontal flip, 0 or up to 0.5 (Keras'
            `RandomFlip` flips half the images; smaller values wrap it in
            `RandomApply`).
        jitter_prob: probability of colour jitter.
        brightness: additive delta drawn in [-b, b], b in [0, 1].
        contrast: factor drawn in [1 - c, 1 + c].
        saturation: factor in [1 - s, 1 + s], s in [0, 1).
        hue: delta in [-h, h] turns, h in [0, 0.5].
        grayscale_prob: probability of converting to grayscale.
        blur_prob: probability of a Gaussian blur.
        blur_sigma_range: (min, max) blur standard deviation in pixels.
        blur_kernel_size: odd kernel side; None gives BYOL's rule
            2 * (size // 10 // 2) + 1, at least 3.
        solarize_prob: probability of solarizing.
        solarize_threshold: solarize threshold, a fraction of the range.
    """

    size: int = BYOL_SIZE
    area_range: Tuple[float, float] = (0.08, 1.0)
    aspect_ratio_range: Tuple[float, float] = (3.0 / 4.0, 4.0 / 3.0)
    flip_prob: float = 0.5
    jitter_prob: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.2
    hue: float = 0.1
    grayscale_prob: float = 0.2
    blur_prob: float = 1.0
    blur_sigma_range: Tuple[float, float] = (0.1, 2.0)
    blur_kernel_size: Optional[int] = None
    solarize_prob: float = 0.0
    solarize_threshold: float = 0.5

    def __post_init__(self):
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size <= 0:
            raise ValueError(f"`size` must be a positive int; got {self.size!r}.")
        for name in ("jitter_prob", "grayscale_prob", "blur_prob", "solarize_prob",
                     "solarize_threshold", "brightness"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"`{name}` must be in [0, 1]; got {value!r}.")
        if not 0.0 <= self.flip_prob <= 0.5:
            raise ValueError(f"`flip_prob` must be in [0, 0.5]; got {self.flip_prob!r}.")
        if self.contrast < 0:
            raise ValueError(f"`contrast` must be >= 0; got {self.contrast!r}.")
        if not 0.0 <= self.saturation < 1.0:
            raise ValueError(f"`saturation` must be in [0, 1); got {self.saturation!r}.")
        if not 0.0 <= self.hue <= 0.5:
            raise ValueError(f"`hue` must be in [0, 0.5]; got {self.hue!r}.")
        for name, (low, high) in (("area_range", (0.0, 1.0)),
                                  ("aspect_ratio_range", (0.0, float("inf")))):
            lo, hi = getattr(self, name)
            if not low < lo <= hi <= high:
                raise ValueError(f"`{name}` must satisfy {low} < min <= max <= {high}; "
                                 f"got {getattr(self, name)!r}.")
        lo, hi = self.blur_sigma_range
        if not 0.0 < lo <= hi:
            raise ValueError("`blur_sigma_range` must satisfy 0 < min <= max; "
                             f"got {self.blur_sigma_range!r}.")
        k = self.blur_kernel_size
        if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k <= 0
                              or k % 2 == 0):
            raise ValueError(f"`blur_kernel_size` must be a positive odd int; got {k!r}.")

    @property
    def kernel_size(self):
        """Odd blur kernel side: `blur_kernel_size`, else BYOL's ~10% rule."""
        if self.blur_kernel_size is not None:
            return self.blur_kernel_size
        return 2 * max(1, (self.size // 10) // 2) + 1

    def replace(self, **changes):
        """A copy with `changes` (validated)."""
        return dataclasses.replace(self, **changes)


class ViewSet(NamedTuple):
    """The large and small views of one training example.

    Each entry is a view spec: a `ViewConfig`, or a Keras / keras-cv layer or
    a list of them (see `keras_semppl.augment.layer_adapter`).
    """

    large: tuple
    small: tuple = ()


def _layer_seed(seed, index):
    """Distinct int seeds for the layers of one pipeline (None stays None)."""
    if seed is None:
        return None
    return (int(seed) * 7919 + 104729 * (index + 1)) % (2**31 - 1)


def view_layers(config, channels=3, seed=None):
    """The preprocessing layers of one view, in order.

    Args:
        config: a `ViewConfig`.
        channels: 1 or 3, the images' channel count (1 drops saturation,
            hue and grayscale).
        seed: int seed (each layer gets a distinct seed derived from it) or
            None.

    Returns:
        A list of Keras layers mapping (B, H, W, C) in [0, 1] to
        (B, size, size, C) in [0, 1].
    """
    if not isinstance(config, ViewConfig):
        raise TypeError(f"`config` must be a ViewConfig; got {type(config).__name__}.")
    if channels not in SUPPORTED_CHANNELS:
        raise ValueError(f"`channels` must be 1 or 3; got {channels!r}.")
    rgb = channels == 3
    layers = [RandomResizedCrop(config.size, config.size, config.area_range,
                                config.aspect_ratio_range, seed=_layer_seed(seed, 0),
                                name="crop")]
    if config.flip_prob > 0:
        flip = keras.layers.RandomFlip("horizontal", seed=_layer_seed(seed, 1), name="flip")
        if config.flip_prob < 0.5:
            flip = RandomApply(flip, 2.0 * config.flip_prob, seed=_layer_seed(seed, 2),
                               name="maybe_flip")
        layers.append(flip)
    jitter = dict(
        brightness_factor=config.brightness or None,
        contrast_factor=config.contrast or None,
        saturation_factor=((1 - config.saturation) / (2 - config.saturation),
                           (1 + config.saturation) / (2 + config.saturation))
        if rgb and config.saturation else None,
        hue_factor=(0.0, 2.0 * config.hue) if rgb and config.hue else None)
    if config.jitter_prob > 0 and any(v is not None for v in jitter.values()):
        layers.append(RandomApply(
            keras.layers.RandomColorJitter(value_range=(0.0, 1.0), seed=_layer_seed(seed, 3),
                                           name="color_jitter", **jitter),
            config.jitter_prob, seed=_layer_seed(seed, 4), name="maybe_color_jitter"))
    if rgb and config.grayscale_prob > 0:
        layers.append(keras.layers.RandomGrayscale(config.grayscale_prob,
                                                   seed=_layer_seed(seed, 5), name="grayscale"))
    if config.blur_prob > 0:
        layers.append(RandomGaussianBlur(config.blur_prob, config.kernel_size,
                                         tuple(config.blur_sigma_range),
                                         seed=_layer_seed(seed, 6), name="blur"))
    if config.solarize_prob > 0:
        layers.append(RandomApply(Solarize(config.solarize_threshold, (0.0, 1.0), name="solarize"),
                                  config.solarize_prob, seed=_layer_seed(seed, 7),
                                  name="maybe_solarize"))
    return layers


def view_pipeline(config, channels=3, seed=None, name=None):
    """`keras.layers.Pipeline(view_layers(config, channels, seed))`."""
    return keras.layers.Pipeline(view_layers(config, channels, seed), name=name)


# BYOL's asymmetric pair (Table 6): view one always blurs and never
# solarizes, view two blurs with p=0.1 and solarizes with p=0.2.
BYOL_VIEW_ONE = dict(blur_prob=1.0, solarize_prob=0.0)
BYOL_VIEW_TWO = dict(blur_prob=0.1, solarize_prob=0.2)
# Small crops after SwAV's multi-crop (Caron et al. 2020): area 0.05-0.14.
SMALL_AREA_RANGE = (0.05, 0.14)


def small_image_overrides(size):
    """Blur settings for images far below 224 px: blur off in both views
    (SimCLR appendix B.9, solo-learn's CIFAR BYOL recipe) and the sigma range
    scaled by size / 224, BYOL's relative strength if re-enabled."""
    scale = size / BYOL_SIZE
    return dict(blur_prob=0.0, blur_sigma_range=(0.1 * scale, 2.0 * scale))


def byol_view_configs(num_large=2, num_small=0, large_size=BYOL_SIZE, small_size=96,
                      large_area_range=(0.08, 1.0), small_area_range=SMALL_AREA_RANGE,
                      view_one=None, view_two=None, **common):
    """BYOL's asymmetric views, alternating view one / view two.

    Views with an even index (within the large and within the small views)
    follow view one, odd ones view two (BYOL_VIEW_ONE / BYOL_VIEW_TWO).
    `common` overrides any `ViewConfig` field of every view, after those
    defaults; `view_one` / `view_two` (dicts) override fields of one side,
    after `common`.

    Returns:
        `ViewSet(large=(ViewConfig,) * num_large, small=(ViewConfig,) * num_small)`.
    """
    if isinstance(num_large, bool) or not isinstance(num_large, int) or num_large < 1:
        raise ValueError(f"`num_large` must be an int >= 1; got {num_large!r}.")
    if isinstance(num_small, bool) or not isinstance(num_small, int) or num_small < 0:
        raise ValueError(f"`num_small` must be an int >= 0; got {num_small!r}.")
    defaults = (BYOL_VIEW_ONE, BYOL_VIEW_TWO)
    sides = (dict(view_one or {}), dict(view_two or {}))
    for field in common:
        if field in ("size", "area_range"):
            raise ValueError(f"`{field}` is set per view group: use large_/small_{field}.")

    def config(index, size, area_range):
        fields = dict(size=size, area_range=tuple(area_range))
        fields.update(defaults[index % 2])
        fields.update(common)
        fields.update(sides[index % 2])
        return ViewConfig(**fields)

    return ViewSet(
        large=tuple(config(i, large_size, large_area_range) for i in range(num_large)),
        small=tuple(config(i, small_size, small_area_range) for i in range(num_small)),
    )

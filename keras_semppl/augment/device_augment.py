"""BYOL-style view augmentation in `keras.ops`, for use inside the train step.

Host-side (`tf.data`) augmentation of several views per image often cannot
keep a GPU or TPU busy. `DeviceViewAugmentation` does the same kind of work
on a batch of views with backend-free `keras.ops`, so it runs inside the
compiled step on JAX, TensorFlow and PyTorch (pass it to
`SemPPL(view_augmentation=...)`; the `tf.data` pipeline then only has to
deliver plain resized images).

Every image of the batch gets its own random draws from the layer's
`keras.random.SeedGenerator`. Ops, with BYOL's parameters by default (Grill
et al. 2020, Table 6; see ../shared/SEMPPL.md):
  - random resized crop (area 0.08-1, aspect 3/4-4/3, 10 proposals, else the
    whole image), resized back to the input size with bilinear sampling in
    the convention of `tf.image.crop_and_resize`; the resampling is two
    small per-image interpolation matrices (``out = Wy @ image @ Wx^T``),
    i.e. matmuls, which accelerators do fast;
  - horizontal flip p=0.5;
  - colour jitter p=0.8 in a fixed order brightness (+delta), contrast
    (around the per-channel mean, as `tf.image.adjust_contrast`),
    saturation (blend with the grayscale image, as torchvision), hue
    (HSV shift); each op is followed by clipping to [0, 1];
  - grayscale p=0.2 (ITU-R 601 weights, as `tf.image.rgb_to_grayscale`);
  - Gaussian blur (sigma 0.1-2.0, kernel about 10% of the side) with
    `blur_prob` (default 0: optional), borders renormalised;
  - solarize with `solarize_prob` (x -> 1 - x where x >= 0.5).
Differences from `keras_semppl.augment.byol_views`: fixed jitter order, the
saturation blend instead of an HSV scale, and blur renormalised at the
border instead of symmetric padding.
"""

import math

import keras
from keras import ops

_GRAY = (0.2989, 0.587, 0.114)


def _interpolation_matrix(start, stop, in_size, out_size):
    """Bilinear weights (B, out_size, in_size) sampling [start, stop] of an axis.

    `start` and `stop` are (B,) normalised box edges in [0, 1]. Output pixel
    i samples y_i = start (in-1) + i (stop - start)(in-1)/(out-1) (the
    `tf.image.crop_and_resize` convention), with tent weights max(0, 1 - |y_i - p|).
    """
    scale = float(in_size - 1)
    if out_size > 1:
        steps = ops.arange(out_size, dtype="float32") / float(out_size - 1)
    else:
        steps = ops.full((1,), 0.5, dtype="float32")
    y = (start[:, None] + (stop - start)[:, None] * steps[None, :]) * scale  # (B, out)
    y = ops.clip(y, 0.0, scale)
    pixels = ops.arange(in_size, dtype="float32")
    return ops.relu(1.0 - ops.abs(y[:, :, None] - pixels[None, None, :]))


def crop_and_resize(images, boxes, size):
    """Bilinear crop-and-resize with `keras.ops` (one box per image).

    Args:
        images: float (B, H, W, C).
        boxes: float (B, 4) normalised (y1, x1, y2, x2), as `tf.image.crop_and_resize`.
        size: (out_h, out_w).

    Returns:
        float32 (B, out_h, out_w, C); equal (up to float rounding) to
        `tf.image.crop_and_resize(images, boxes, range(B), size)` for boxes
        inside the image.
    """
    _, height, width, _ = images.shape
    out_h, out_w = size
    wy = _interpolation_matrix(boxes[:, 0], boxes[:, 2], height, out_h)
    wx = _interpolation_matrix(boxes[:, 1], boxes[:, 3], width, out_w)
    rows = ops.einsum("bip,bpqc->biqc", wy, images)
    return ops.einsum("bjq,biqc->bijc", wx, rows)


def sample_boxes(batch, seed, area_range, aspect_ratio_range, max_attempts=10):
    """Random resized crop boxes (B, 4) for square-pixel images, in `keras.ops`.

    Same algorithm as `keras_semppl.augment.random_resized_crop.sample_crop_boxes`
    (area uniform, aspect log-uniform, first of `max_attempts` proposals
    that fits, else the whole image; uniform placement).
    """
    shape = (batch, max_attempts)
    area = keras.random.uniform(shape, *area_range, seed=seed)
    log_ratio = keras.random.uniform(
        shape, math.log(aspect_ratio_range[0]), math.log(aspect_ratio_range[1]), seed=seed)
    ratio = ops.exp(log_ratio)
    w = ops.sqrt(area * ratio)
    h = ops.sqrt(area / ratio)
    fits = ops.logical_and(w <= 1.0, h <= 1.0)
    attempt = ops.broadcast_to(ops.arange(max_attempts), shape)
    first = ops.min(ops.where(fits, attempt, max_attempts), axis=1)
    choose = ops.one_hot(first, max_attempts + 1, dtype="float32")  # last: whole image
    h = ops.sum(ops.concatenate([h, ops.ones((batch, 1))], 1) * choose, axis=1)
    w = ops.sum(ops.concatenate([w, ops.ones((batch, 1))], 1) * choose, axis=1)
    offsets = keras.random.uniform((batch, 2), seed=seed)
    y1 = offsets[:, 0] * (1.0 - h)
    x1 = offsets[:, 1] * (1.0 - w)
    return ops.stack([y1, x1, y1 + h, x1 + w], axis=1)


def _gray(images):
    """(B, H, W, C) -> (B, H, W, 1) luma (C=3) or the image itself (C=1)."""
    if images.shape[-1] == 1:
        return images
    return ops.sum(images * ops.convert_to_tensor(_GRAY, "float32"), axis=-1, keepdims=True)


def _blur_matrix(sigma, size, radius):
    """(B, size, size) row-normalised truncated Gaussian weights."""
    pos = ops.arange(size, dtype="float32")
    diff = pos[:, None] - pos[None, :]
    weights = ops.exp(-0.5 * ops.square(diff[None] / sigma[:, None, None]))
    weights = weights * ops.cast(ops.abs(diff) <= radius, "float32")[None]
    return weights / ops.sum(weights, axis=-1, keepdims=True)


@keras.saving.register_keras_serializable(package="keras_semppl")
class DeviceViewAugmentation(keras.layers.Layer):
    """Random BYOL view augmentation of a batch (B, H, W, C) -> (B, H, W, C).

    Runs only when ``training`` is true (identity otherwise). Inputs and
    outputs are float in [0, 1]; C is 1 or 3 (saturation, hue and grayscale
    are identities for C=1). Parameters as `keras_semppl.augment.ViewConfig`;
    defaults are BYOL's view one without blur. Use separate instances for
    separate models (a layer's seed state belongs to one model).

    Args:
        area_range, aspect_ratio_range: random resized crop.
        flip_prob, jitter_prob, brightness, contrast, saturation, hue,
        grayscale_prob, blur_prob, blur_sigma_range, solarize_prob,
        solarize_threshold: as `ViewConfig`.
        blur_kernel_size: odd kernel side; None: about 10% of the image side.
        seed: seed of the layer's `SeedGenerator`.
    """

    def __init__(self, area_range=(0.08, 1.0), aspect_ratio_range=(3 / 4, 4 / 3),
                 flip_prob=0.5, jitter_prob=0.8, brightness=0.4, contrast=0.4,
                 saturation=0.2, hue=0.1, grayscale_prob=0.2, blur_prob=0.0,
                 blur_sigma_range=(0.1, 2.0), blur_kernel_size=None, solarize_prob=0.0,
                 solarize_threshold=0.5, seed=None, **kwargs):
        super().__init__(**kwargs)
        lo, hi = (float(v) for v in area_range)
        if not 0.0 < lo <= hi <= 1.0:
            raise ValueError(f"`area_range` must satisfy 0 < min <= max <= 1; got {area_range}.")
        if not 0.0 < aspect_ratio_range[0] <= aspect_ratio_range[1]:
            raise ValueError(f"`aspect_ratio_range` must be positive, min <= max; "
                             f"got {aspect_ratio_range}.")
        for name, value in (("flip_prob", flip_prob), ("jitter_prob", jitter_prob),
                            ("grayscale_prob", grayscale_prob), ("blur_prob", blur_prob),
                            ("solarize_prob", solarize_prob)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"`{name}` must be in [0, 1]; got {value}.")
        if not 0.0 < blur_sigma_range[0] <= blur_sigma_range[1]:
            raise ValueError(f"`blur_sigma_range` must satisfy 0 < min <= max; "
                             f"got {blur_sigma_range}.")
        if blur_kernel_size is not None and (blur_kernel_size <= 0 or blur_kernel_size % 2 == 0):
            raise ValueError(f"`blur_kernel_size` must be a positive odd int; "
                             f"got {blur_kernel_size}.")
        self.area_range = (lo, hi)
        self.aspect_ratio_range = tuple(float(v) for v in aspect_ratio_range)
        self.flip_prob = float(flip_prob)
        self.jitter_prob = float(jitter_prob)
        self.brightness = float(brightness)
        self.contrast = float(contrast)
        self.saturation = float(saturation)
        self.hue = float(hue)
        self.grayscale_prob = float(grayscale_prob)
        self.blur_prob = float(blur_prob)
        self.blur_sigma_range = tuple(float(v) for v in blur_sigma_range)
        self.blur_kernel_size = blur_kernel_size
        self.solarize_prob = float(solarize_prob)
        self.solarize_threshold = float(solarize_threshold)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed, name="augment_seed")
        self.built = True

    def _coin(self, batch, prob):
        """(B, 1, 1, 1) bool: True with probability `prob`."""
        draw = keras.random.uniform((batch, 1, 1, 1), seed=self.seed_generator)
        return draw < prob

    def _factor(self, batch, spread, centre):
        return keras.random.uniform((batch, 1, 1, 1), centre - spread, centre + spread,
                                    seed=self.seed_generator)

    def _jitter(self, x, batch):
        if self.brightness > 0:
            x = ops.clip(x + self._factor(batch, self.brightness, 0.0), 0.0, 1.0)
        if self.contrast > 0:
            mean = ops.mean(x, axis=(1, 2), keepdims=True)
            x = ops.clip((x - mean) * self._factor(batch, self.contrast, 1.0) + mean, 0.0, 1.0)
        if x.shape[-1] == 3 and self.saturation > 0:
            gray = _gray(x)
            x = ops.clip(gray + self._factor(batch, self.saturation, 1.0) * (x - gray), 0.0, 1.0)
        if x.shape[-1] == 3 and self.hue > 0:
            hsv = ops.image.rgb_to_hsv(x)
            shift = self._factor(batch, self.hue, 0.0)
            h = hsv[..., :1] + shift
            h = h - ops.floor(h)
            x = ops.clip(ops.image.hsv_to_rgb(ops.concatenate([h, hsv[..., 1:]], -1)), 0.0, 1.0)
        return x

    def call(self, images, training=None):
        if not training:
            return images
        images = ops.cast(images, "float32")
        batch, height, width, channels = images.shape
        if height is None or width is None or channels not in (1, 3):
            raise ValueError(
                "DeviceViewAugmentation needs a static image size and 1 or 3 "
                f"channels; got shape {tuple(images.shape)}.")
        if batch is None:
            batch = ops.shape(images)[0]
        boxes = sample_boxes(batch, self.seed_generator, self.area_range,
                             self.aspect_ratio_range)
        x = crop_and_resize(images, boxes, (height, width))
        if self.flip_prob > 0:
            x = ops.where(self._coin(batch, self.flip_prob), ops.flip(x, axis=2), x)
        if self.jitter_prob > 0:
            x = ops.where(self._coin(batch, self.jitter_prob), self._jitter(x, batch), x)
        if self.grayscale_prob > 0 and channels == 3:
            gray = ops.repeat(_gray(x), 3, axis=-1)
            x = ops.where(self._coin(batch, self.grayscale_prob), gray, x)
        if self.blur_prob > 0:
            radius = (self.blur_kernel_size // 2 if self.blur_kernel_size
                      else max(1, (max(height, width) // 10) // 2))
            sigma = keras.random.uniform((batch,), *self.blur_sigma_range,
                                         seed=self.seed_generator)
            blurred = ops.einsum("bip,bpqc->biqc", _blur_matrix(sigma, height, radius), x)
            blurred = ops.einsum("bjq,biqc->bijc", _blur_matrix(sigma, width, radius), blurred)
            x = ops.where(self._coin(batch, self.blur_prob), blurred, x)
        if self.solarize_prob > 0:
            solar = ops.where(x < self.solarize_threshold, x, 1.0 - x)
            x = ops.where(self._coin(batch, self.solarize_prob), solar, x)
        return ops.clip(x, 0.0, 1.0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            area_range=self.area_range, aspect_ratio_range=self.aspect_ratio_range,
            flip_prob=self.flip_prob, jitter_prob=self.jitter_prob,
            brightness=self.brightness, contrast=self.contrast,
            saturation=self.saturation, hue=self.hue,
            grayscale_prob=self.grayscale_prob, blur_prob=self.blur_prob,
            blur_sigma_range=self.blur_sigma_range, blur_kernel_size=self.blur_kernel_size,
            solarize_prob=self.solarize_prob, solarize_threshold=self.solarize_threshold,
            seed=self.seed)
        return config

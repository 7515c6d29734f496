"""`RandomResizedCrop`: the crop of BYOL / SimCLR / Inception as a Keras layer.

Pick a box whose area is a uniform fraction `area_range` of the image and
whose aspect ratio (width / height, in pixels) is log-uniform in
`aspect_ratio_range`; take the first of `max_attempts` proposals that fits
inside the image (else the whole image), place it uniformly, and resize it to
(height, width) bilinearly. This is Szegedy et al. 2015's crop as used by
BYOL (Grill et al. 2020, Table 6: area 0.08-1, aspect 3/4-4/3).

Keras core has no random-resized crop, and keras-cv's `RandomCropAndResize`
calls `tf.image.crop_and_resize`, which cannot be traced by JAX and logs a
`PredictCost` line per trace. Here the resampling is two gathers per image
(separable bilinear interpolation with half-pixel centres, the convention of
`keras.layers.Resizing` and `tf.image.resize`), written with
`self.backend` ops, so the same layer runs inside `tf.data` on any backend
and inside a compiled JAX, TensorFlow or PyTorch step.
"""

import math

import keras
from keras.src.utils.backend_utils import DynamicBackend

from keras_semppl.arguments import positive_int
from keras_semppl.augment._base import DataLayer

DEFAULT_AREA_RANGE = (0.08, 1.0)
DEFAULT_ASPECT_RATIO_RANGE = (3.0 / 4.0, 4.0 / 3.0)


def _check_range(name, value, low, high, positive=False):
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a pair (min, max); got {value!r}.") from None
    if not low <= lo <= hi <= high or (positive and lo <= 0.0):
        bound = f"0 < min <= max <= {high}" if positive else f"{low} <= min <= max <= {high}"
        raise ValueError(f"`{name}` must satisfy {bound}; got {value!r}.")
    return lo, hi


def sample_crop_boxes(batch, image_height, image_width, seed,
                      area_range=DEFAULT_AREA_RANGE,
                      aspect_ratio_range=DEFAULT_ASPECT_RATIO_RANGE, max_attempts=10, ops=None):
    """Normalised crop boxes (B, 4) as (y1, x1, y2, x2) in [0, 1].

    Args:
        batch: B (int or scalar tensor).
        image_height, image_width: the image size in pixels.
        seed: a `keras.random.SeedGenerator` (or anything Keras' random ops
            accept); advanced by three draws.
        ops: the backend namespace (a layer's `self.backend`); default: the
            current Keras backend.
    """
    ops = ops or DynamicBackend()
    shape = (batch, max_attempts)
    area = ops.random.uniform(shape, area_range[0], area_range[1], seed=seed)
    log_ratio = ops.random.uniform(shape, math.log(aspect_ratio_range[0]),
                                   math.log(aspect_ratio_range[1]), seed=seed)
    ratio = ops.numpy.exp(log_ratio)
    # Fractions h, w of the image height and width with h * w = area and
    # (w * W) / (h * H) = ratio.
    h_over_w = ops.cast(image_height, "float32") / ops.cast(image_width, "float32")
    w = ops.numpy.sqrt(area * ratio * h_over_w)
    h = ops.numpy.sqrt(area / (ratio * h_over_w))
    fits = ops.numpy.logical_and(w <= 1.0, h <= 1.0)
    attempt = ops.numpy.arange(max_attempts, dtype="int32")[None, :]
    first = ops.numpy.min(ops.numpy.where(fits, attempt, max_attempts), axis=1)
    choose = ops.nn.one_hot(first, max_attempts + 1, dtype="float32")  # last: whole image
    whole = ops.numpy.ones((batch, 1), dtype="float32")
    h = ops.numpy.sum(ops.numpy.concatenate([h, whole], axis=1) * choose, axis=1)
    w = ops.numpy.sum(ops.numpy.concatenate([w, whole], axis=1) * choose, axis=1)
    offsets = ops.random.uniform((batch, 2), seed=seed)
    y1 = offsets[:, 0] * (1.0 - h)
    x1 = offsets[:, 1] * (1.0 - w)
    return ops.numpy.stack([y1, x1, y1 + h, x1 + w], axis=1)


def _axis_coordinates(ops, start, stop, in_size, out_size):
    """Source indices (i0, i1) and weight of i1, each (B, out_size), sampling
    [start, stop] (normalised) of an axis of `in_size` pixels at half-pixel
    centres."""
    size = ops.cast(in_size, "float32")
    steps = (ops.numpy.arange(out_size, dtype="float32") + 0.5) / float(out_size)
    coords = (start[:, None] + (stop - start)[:, None] * steps[None, :]) * size - 0.5
    coords = ops.numpy.clip(coords, 0.0, size - 1.0)
    low = ops.numpy.floor(coords)
    weight = coords - low
    low = ops.cast(low, "int32")
    high = ops.numpy.minimum(low + 1, ops.cast(in_size, "int32") - 1)
    return low, high, weight


def crop_and_resize(images, boxes, size, ops=None):
    """Bilinear crop-and-resize, one box per image.

    Args:
        images: float (B, H, W, C).
        boxes: float (B, 4), normalised (y1, x1, y2, x2).
        size: (out_height, out_width), ints.
        ops: the backend namespace (a layer's `self.backend`); default: the
            current Keras backend.

    Returns:
        (B, out_height, out_width, C). Output pixel i of an axis samples the
        source coordinate y1 * H + (i + 0.5) * (y2 - y1) * H / out - 0.5
        (clamped to the image) with linear interpolation; the whole-image
        box gives `tf.image.resize(..., "bilinear", antialias=False)`.
    """
    ops = ops or DynamicBackend()
    out_h, out_w = size
    shape = ops.shape(images)
    batch, height, width, channels = shape[0], shape[1], shape[2], shape[3]
    y0, y1, wy = _axis_coordinates(ops, boxes[:, 0], boxes[:, 2], height, out_h)
    x0, x1, wx = _axis_coordinates(ops, boxes[:, 1], boxes[:, 3], width, out_w)
    # Rows: gather from (B * H, W * C).
    flat = ops.numpy.reshape(images, (-1, width * channels))
    base = ops.numpy.arange(batch, dtype="int32")[:, None] * height
    top = ops.numpy.take(flat, ops.numpy.reshape(base + y0, (-1,)), axis=0)
    bottom = ops.numpy.take(flat, ops.numpy.reshape(base + y1, (-1,)), axis=0)
    wy = ops.numpy.reshape(ops.cast(wy, images.dtype), (-1, 1))
    rows = top + (bottom - top) * wy  # (B * out_h, W * C)
    # Columns: gather from (B * out_h * W, C).
    rows = ops.numpy.reshape(rows, (-1, channels))
    row_ids = ops.numpy.arange(out_h, dtype="int32")[None, :, None]
    base = (ops.numpy.arange(batch, dtype="int32")[:, None, None] * out_h + row_ids) * width
    left = ops.numpy.take(rows, ops.numpy.reshape(base + x0[:, None, :], (-1,)), axis=0)
    right = ops.numpy.take(rows, ops.numpy.reshape(base + x1[:, None, :], (-1,)), axis=0)
    wx = ops.numpy.reshape(ops.numpy.broadcast_to(ops.cast(wx, images.dtype)[:, None, :],
                                                  (batch, out_h, out_w)), (-1, 1))
    out = left + (right - left) * wx
    return ops.numpy.reshape(out, (batch, out_h, out_w, channels))


@keras.saving.register_keras_serializable(package="keras_semppl")
class RandomResizedCrop(DataLayer):
    """Random resized crop of (B, H, W, C) or (H, W, C) images, channels last.

    Each image gets its own box. At inference (`training=False`) the whole
    image is resized to (height, width).

    Args:
        height, width: output size in pixels.
        area_range: (min, max) fraction of the image area kept;
            BYOL: (0.08, 1.0).
        aspect_ratio_range: (min, max) width / height of the box;
            BYOL: (3/4, 4/3); sampled log-uniformly.
        max_attempts: proposals per image before falling back to the whole
            image (torchvision uses 10).
        seed: int seed of the layer's `keras.random.SeedGenerator`.

    Output: float (B, height, width, C) (or (height, width, C)), values
    within the input's range.
    """

    def __init__(self, height, width, area_range=DEFAULT_AREA_RANGE,
                 aspect_ratio_range=DEFAULT_ASPECT_RATIO_RANGE, max_attempts=10,
                 seed=None, **kwargs):
        super().__init__(**kwargs)
        self.height = positive_int("height", height)
        self.width = positive_int("width", width)
        self.area_range = _check_range("area_range", area_range, 0.0, 1.0, positive=True)
        self.aspect_ratio_range = _check_range("aspect_ratio_range", aspect_ratio_range,
                                               0.0, math.inf, positive=True)
        self.max_attempts = positive_int("max_attempts", max_attempts)
        self.seed = seed
        self.generator = keras.random.SeedGenerator(seed)
        self.supports_masking = False

    def call(self, images, training=True):
        ops = self.backend
        rank = len(images.shape)
        if rank not in (3, 4):
            raise ValueError(
                "RandomResizedCrop expects images of rank 3 (H, W, C) or 4 (B, H, W, C); "
                f"got shape {tuple(images.shape)}.")
        images = ops.cast(images, self.compute_dtype)
        if rank == 3:
            images = ops.numpy.expand_dims(images, 0)
        shape = ops.shape(images)
        if training:
            boxes = sample_crop_boxes(
                shape[0], shape[1], shape[2], self._get_seed_generator(ops._backend),
                self.area_range, self.aspect_ratio_range, self.max_attempts, ops=ops)
        else:
            boxes = ops.numpy.tile(ops.convert_to_tensor([[0.0, 0.0, 1.0, 1.0]], "float32"),
                                   (shape[0], 1))
        out = crop_and_resize(images, boxes, (self.height, self.width), ops=ops)
        return out[0] if rank == 3 else out

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-3]) + (self.height, self.width, input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update(height=self.height, width=self.width, area_range=self.area_range,
                      aspect_ratio_range=self.aspect_ratio_range,
                      max_attempts=self.max_attempts, seed=self.seed)
        return config

"""The view recipe, its layers and the host placement (every Keras backend).

References are NumPy or TensorFlow's own image ops, never our code's output.
"""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_semppl.augment import RandomApply
from keras_semppl.augment import RandomGaussianBlur
from keras_semppl.augment import RandomResizedCrop
from keras_semppl.augment import Solarize
from keras_semppl.augment import ViewConfig
from keras_semppl.augment import ViewSet
from keras_semppl.augment import byol_view_configs
from keras_semppl.augment import make_view_fn
from keras_semppl.augment import view_layers
from keras_semppl.augment import view_preset
from keras_semppl.augment.random_resized_crop import crop_and_resize
from keras_semppl.augment.random_resized_crop import sample_crop_boxes
from keras_semppl.data.pipeline import make_training_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Every random op off, the crop keeps the whole image: the identity view.
PLAIN = dict(area_range=(1.0, 1.0), aspect_ratio_range=(1.0, 1.0), flip_prob=0.0,
             jitter_prob=0.0, grayscale_prob=0.0, blur_prob=0.0, solarize_prob=0.0)


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _images(n=4, height=12, width=12, channels=3, seed=0):
    return np.random.default_rng(seed).random((n, height, width, channels)).astype("float32")


def _numpy_crop_and_resize(images, boxes, size):
    """Independent reference: bilinear sampling at half-pixel centres."""
    out_h, out_w = size
    n, height, width, _ = images.shape
    out = np.zeros((n, out_h, out_w, images.shape[-1]), np.float64)
    for b in range(n):
        y1, x1, y2, x2 = boxes[b]
        for i in range(out_h):
            y = np.clip(y1 * height + (i + 0.5) * (y2 - y1) * height / out_h - 0.5, 0, height - 1)
            for j in range(out_w):
                x = np.clip(x1 * width + (j + 0.5) * (x2 - x1) * width / out_w - 0.5, 0, width - 1)
                y0, x0 = int(np.floor(y)), int(np.floor(x))
                y1i, x1i = min(y0 + 1, height - 1), min(x0 + 1, width - 1)
                dy, dx = y - y0, x - x0
                top = images[b, y0, x0] * (1 - dx) + images[b, y0, x1i] * dx
                bottom = images[b, y1i, x0] * (1 - dx) + images[b, y1i, x1i] * dx
                out[b, i, j] = top * (1 - dy) + bottom * dy
    return out


# ------------------------------------------------------------ RandomResizedCrop

def test_crop_and_resize_matches_numpy_reference():
    images = _images(3, 10, 14)
    boxes = np.array([[0.0, 0.0, 1.0, 1.0], [0.1, 0.25, 0.6, 0.9], [0.3, 0.05, 0.95, 0.5]],
                     "float32")
    ours = _np(crop_and_resize(keras.ops.convert_to_tensor(images),
                               keras.ops.convert_to_tensor(boxes), (7, 9)))
    np.testing.assert_allclose(ours, _numpy_crop_and_resize(images, boxes, (7, 9)), atol=1e-5)


def test_inference_resizes_whole_image_like_tf_image_resize():
    images = _images(2, 10, 12)
    out = _np(RandomResizedCrop(7, 9, seed=1)(images, training=False))
    ref = tf.image.resize(images, (7, 9), "bilinear", antialias=False).numpy()
    np.testing.assert_allclose(out, ref, atol=1e-5)


def test_full_area_crop_of_same_size_is_identity():
    images = _images(3, 12, 12)
    layer = RandomResizedCrop(12, 12, area_range=(1.0, 1.0), aspect_ratio_range=(1.0, 1.0),
                              seed=0)
    np.testing.assert_allclose(_np(layer(images, training=True)), images, atol=1e-6)
    single = _np(layer(images[0], training=True))
    assert single.shape == (12, 12, 3)


def test_crop_boxes_respect_area_and_pixel_aspect_on_non_square_images():
    boxes = _np(sample_crop_boxes(600, 20, 40, keras.random.SeedGenerator(3),
                                  area_range=(0.2, 0.5), aspect_ratio_range=(0.75, 4 / 3)))
    h, w = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    assert boxes.min() >= -1e-6 and boxes.max() <= 1 + 1e-6
    assert np.all(h * w >= 0.2 - 1e-4) and np.all(h * w <= 0.5 + 1e-4)
    pixel_aspect = (w * 40) / (h * 20)
    assert np.all(pixel_aspect >= 0.75 - 1e-4) and np.all(pixel_aspect <= 4 / 3 + 1e-4)
    # Uniform placement: box centres spread over the free range.
    assert np.std(boxes[:, 1] + w / 2) > 0.05


def test_crop_falls_back_to_whole_image_when_no_proposal_fits():
    # Aspect 3-4 at area 0.9 never fits a square image.
    boxes = _np(sample_crop_boxes(50, 16, 16, keras.random.SeedGenerator(0),
                                  area_range=(0.9, 1.0), aspect_ratio_range=(3.0, 4.0)))
    np.testing.assert_allclose(boxes, np.tile([[0.0, 0.0, 1.0, 1.0]], (50, 1)), atol=1e-6)


def test_crop_draws_per_image_and_per_call():
    images = np.repeat(_images(1, 16, 16), 6, axis=0)
    layer = RandomResizedCrop(8, 8, seed=5)
    a, b = _np(layer(images, training=True)), _np(layer(images, training=True))
    assert not np.allclose(a[0], a[1]) and not np.allclose(a, b)
    again = _np(RandomResizedCrop(8, 8, seed=5)(images, training=True))
    np.testing.assert_allclose(a, again, atol=1e-6)  # same seed, same first draw


@pytest.mark.parametrize("kwargs, match", [
    (dict(height=0, width=8), "height"),
    (dict(height=8, width=8.5), "width"),
    (dict(height=8, width=8, area_range=(0.0, 1.0)), "area_range"),
    (dict(height=8, width=8, area_range=(0.6, 0.2)), "area_range"),
    (dict(height=8, width=8, aspect_ratio_range=(2.0, 1.0)), "aspect_ratio_range"),
    (dict(height=8, width=8, max_attempts=0), "max_attempts"),
])
def test_crop_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RandomResizedCrop(**kwargs)


def test_crop_rejects_bad_rank_and_round_trips_config():
    layer = RandomResizedCrop(8, 6, area_range=(0.3, 0.9), seed=4, name="crop")
    with pytest.raises(ValueError, match="rank 3"):
        layer(np.zeros((2, 3, 8, 8, 3), "float32"))
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(clone, RandomResizedCrop) and clone.get_config() == layer.get_config()


def test_crop_graph_has_no_crop_and_resize_op():
    """tf.image.crop_and_resize is what logged `PredictCost ... CropAndResize`."""
    layer = RandomResizedCrop(8, 8, seed=0)
    views = make_view_fn(view_preset("cifar", num_large=2, num_small=1), seed=0)
    graph = tf.function(lambda x: (layer(x), views(x[0], tf.constant(3)))).get_concrete_function(
        tf.TensorSpec((2, 32, 32, 3), tf.float32)).graph
    types = {op.type for op in graph.get_operations()}
    for function in graph.as_graph_def().library.function:
        types |= {node.op for node in function.node_def}
    assert "CropAndResize" not in types


# ------------------------------------------------------------ RandomApply, Solarize, blur

def _numpy_blur(image, sigma, kernel_size):
    """Separable Gaussian, zero padding (BYOL's 'SAME' depthwise conv)."""
    r = kernel_size // 2
    taps = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    taps /= taps.sum()
    kernel = np.outer(taps, taps)
    padded = np.pad(image, ((r, r), (r, r), (0, 0)))
    out = np.zeros_like(image, dtype=np.float64)
    for i in range(kernel_size):
        for j in range(kernel_size):
            out += kernel[i, j] * padded[i:i + image.shape[0], j:j + image.shape[1]]
    return out


def test_blur_matches_numpy_with_one_sigma_per_image():
    images = _images(3, 9, 11)
    layer = RandomGaussianBlur(1.0, 5, (1.0, 1.0), seed=0)
    out = _np(layer(images, training=True))
    for image, blurred in zip(images, out):
        np.testing.assert_allclose(blurred, _numpy_blur(image, 1.0, 5), atol=1e-5)
    # Different sigmas per image: each output matches the NumPy blur of some sigma.
    varied = _np(RandomGaussianBlur(1.0, 5, (0.3, 3.0), seed=1)(images, training=True))
    sigmas = np.linspace(0.3, 3.0, 271)
    best = [sigmas[np.argmin([np.abs(_numpy_blur(im, s, 5) - v).max() for s in sigmas])]
            for im, v in zip(images, varied)]
    assert len(set(np.round(best, 2))) == 3
    np.testing.assert_array_equal(_np(layer(images, training=False)), images)
    with pytest.raises(ValueError, match="kernel_size"):
        RandomGaussianBlur(1.0, 4)
    with pytest.raises(ValueError, match="sigma_range"):
        RandomGaussianBlur(1.0, 3, (0.0, 1.0))


def test_solarize_against_numpy_and_value_range():
    images = _images()
    np.testing.assert_allclose(_np(Solarize()(images)), np.where(images < 0.5, images, 1 - images),
                               atol=1e-6)
    scaled = images * 255
    np.testing.assert_allclose(_np(Solarize(0.25, (0, 255))(scaled)),
                               np.where(scaled < 63.75, scaled, 255 - scaled), atol=1e-3)
    np.testing.assert_array_equal(_np(Solarize()(images, training=False)), images)
    with pytest.raises(ValueError, match="threshold"):
        Solarize(1.5)


def test_random_apply_rate_extremes_and_frequency():
    images = np.full((400, 4, 4, 1), 0.75, "float32")
    never = _np(RandomApply(Solarize(), 0.0, seed=0)(images))
    always = _np(RandomApply(Solarize(), 1.0, seed=0)(images))
    np.testing.assert_allclose(never, images)
    np.testing.assert_allclose(always, 0.25)
    some = _np(RandomApply(Solarize(), 0.3, seed=0)(images))
    share = np.isclose(some[:, 0, 0, 0], 0.25).mean()
    assert abs(share - 0.3) < 4 * np.sqrt(0.3 * 0.7 / 400)  # binomial, 4 sigma
    np.testing.assert_allclose(_np(RandomApply(Solarize(), 1.0)(images, training=False)), images)
    with pytest.raises(ValueError, match="rate"):
        RandomApply(Solarize(), 1.2)
    with pytest.raises(TypeError, match="layer"):
        RandomApply(lambda x: x, 0.5)


# ------------------------------------------------------------ the recipe

def test_byol_views_follow_table_6_and_alternate():
    views = byol_view_configs(num_large=3, num_small=2)
    one, two = views.large[0], views.large[1]
    assert one.size == 224 and views.small[0].size == 96
    assert (one.area_range, one.aspect_ratio_range) == ((0.08, 1.0), (0.75, 4 / 3))
    assert (one.flip_prob, one.jitter_prob, one.grayscale_prob) == (0.5, 0.8, 0.2)
    assert (one.brightness, one.contrast, one.saturation, one.hue) == (0.4, 0.4, 0.2, 0.1)
    assert (one.blur_prob, one.solarize_prob, two.blur_prob, two.solarize_prob) == (1.0, 0, 0.1, 0.2)
    assert views.large[2] == one and views.small[1].solarize_prob == 0.2
    assert views.small[0].area_range == (0.05, 0.14)
    assert one.kernel_size == 23 and ViewConfig(size=32).kernel_size == 3


def test_recipe_layers_and_keras_parameter_mapping():
    config = ViewConfig(size=32, flip_prob=0.25, solarize_prob=0.2)
    layers = view_layers(config, channels=3, seed=1)
    names = [type(layer).__name__ for layer in layers]
    assert names == ["RandomResizedCrop", "RandomApply", "RandomApply", "RandomGrayscale",
                     "RandomGaussianBlur", "RandomApply"]
    flip, jitter = layers[1], layers[2].layer
    assert flip.rate == 0.5 and type(flip.layer).__name__ == "RandomFlip"
    f0, f1 = jitter.saturation_factor  # Keras scales saturation by f / (1 - f)
    assert np.isclose(f0 / (1 - f0), 0.8) and np.isclose(f1 / (1 - f1), 1.2)
    assert jitter.hue_factor == (0.0, 0.2)  # Keras: delta = +-factor / 2 turns
    assert layers[4].kernel_size == 3 and layers[4].sigma_range == (0.1, 2.0)
    assert layers[4].rate == 1.0
    gray = [type(layer).__name__ for layer in view_layers(config, channels=1)]
    assert "RandomGrayscale" not in gray
    assert view_layers(config, channels=1)[2].layer.saturation_factor is None


@pytest.mark.parametrize("field, value", [
    ("size", 0), ("flip_prob", 0.7), ("jitter_prob", -0.1), ("brightness", 1.5),
    ("saturation", 1.0), ("hue", 0.6), ("area_range", (0.0, 1.0)),
    ("aspect_ratio_range", (2.0, 1.0)), ("blur_sigma_range", (0.0, 1.0)),
    ("blur_kernel_size", 4), ("solarize_threshold", 2.0),
])
def test_view_config_names_the_bad_field(field, value):
    with pytest.raises(ValueError, match=field):
        ViewConfig(**{field: value})


def test_presets_digits_cifar_imagenet_and_overrides():
    digits = view_preset("digits", large_size=16)
    one, two = digits.large
    assert digits.small == () and one.size == 16
    assert (one.area_range, one.flip_prob, two.flip_prob) == ((0.7, 1.0), 0.0, 0.0)
    assert (one.blur_prob, two.blur_prob, one.solarize_prob, two.solarize_prob) == (0.5, 0.1, 0, 0)
    assert one.blur_sigma_range == (0.1, 2.0) and one.jitter_prob == 0.8
    tuned = view_preset("digits", blur_prob=0.3, view_two=dict(solarize_prob=0.2),
                        large_area_range=(0.5, 1.0))
    assert [v.blur_prob for v in tuned.large] == [0.3, 0.3]
    assert tuned.large[1].solarize_prob == 0.2 and tuned.large[0].area_range == (0.5, 1.0)
    cifar = view_preset("cifar")
    assert [v.blur_prob for v in cifar.large] == [0.0] * 4
    assert np.allclose(cifar.large[0].blur_sigma_range, (0.1 * 32 / 224, 2.0 * 32 / 224))
    assert view_preset("imagenet").large[0] == byol_view_configs().large[0]
    with pytest.raises(ValueError, match="known presets"):
        view_preset("svhn")


# ------------------------------------------------------------ host placement

def _view_fn(views=None, seed=0):
    return make_view_fn(views or view_preset("cifar", num_large=2, num_small=1), seed=seed)


def _call(view_fn, image, example_seed):
    large, small = view_fn(tf.constant(image), tf.constant(example_seed, tf.int64))
    return [v.numpy() for v in large + small]


def test_host_views_shapes_range_dtype_and_channels():
    image = _images(1, 24, 24)[0]
    views = _call(_view_fn(), image, [1, 2])
    assert [v.shape for v in views] == [(32, 32, 3), (32, 32, 3), (16, 16, 3)]
    assert all(v.dtype == np.float32 and v.min() >= 0 and v.max() <= 1 for v in views)
    gray = _call(_view_fn(), image[..., :1], [1, 2])
    assert [v.shape[-1] for v in gray] == [1, 1, 1]
    as_uint8 = _call(_view_fn(), (image * 255).astype("uint8"), [1, 2])
    assert max(v.max() for v in as_uint8) <= 1.0


def test_host_view_is_a_function_of_seed_example_and_view():
    image = _images(1, 24, 24)[0]
    fn = _view_fn()
    a, b = _call(fn, image, [1, 2]), _call(fn, image, [1, 2])
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    other_example = _call(fn, image, [1, 3])
    other_seed = _call(_view_fn(seed=1), image, [1, 2])
    assert not np.allclose(a[0], other_example[0]) and not np.allclose(a[0], other_seed[0])
    assert not np.allclose(a[0], a[1])  # view one and view two differ


def test_host_probabilities_hold_over_examples():
    """Per-example seeds must give independent coins: 20% grayscale."""
    config = ViewConfig(size=8, **dict(PLAIN, grayscale_prob=0.2))
    fn = make_view_fn(ViewSet((config,)), seed=0)
    image = _images(1, 8, 8)[0]
    ds = tf.data.Dataset.range(400).map(lambda i: fn(image, i)[0][0])
    views = np.stack(list(ds.as_numpy_iterator()))
    gray = np.all(np.isclose(views[..., 0], views[..., 1]), axis=(1, 2))
    assert abs(gray.mean() - 0.2) < 4 * np.sqrt(0.2 * 0.8 / 400)


def test_plain_config_returns_the_image():
    image = _images(1, 8, 8)[0]
    out = _call(make_view_fn(ViewSet((ViewConfig(size=8, **PLAIN),)), seed=0), image, 3)
    np.testing.assert_allclose(out[0], image, atol=1e-6)


def test_host_rejects_bad_images_and_arguments():
    fn = _view_fn()
    with pytest.raises(ValueError, match="channels"):
        fn(tf.zeros((8, 8, 2)), 0)
    with pytest.raises(ValueError, match="rank 3"):
        fn(tf.zeros((2, 8, 8, 3)), 0)
    with pytest.raises(ValueError, match="placement"):
        make_view_fn(view_preset("cifar"), placement="tpu")
    with pytest.raises(ValueError, match="at least one large view"):
        make_view_fn(ViewSet((), ()))


def _first_epoch_digest(seed):
    images = _images(12, 16, 16, seed=1)
    labels = np.where(np.arange(12) < 4, np.arange(12) % 2, -1)
    ds = make_training_dataset(images, labels, 6, _view_fn(view_preset("digits"), seed=seed),
                               seed=seed, labelled_per_batch=2)
    return [np.concatenate([v.numpy().ravel() for v in b["large_views"]]) for b in ds]


def test_same_seed_same_epoch_across_datasets_and_processes():
    first, again = _first_epoch_digest(0), _first_epoch_digest(0)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(first[0], _first_epoch_digest(1)[0])
    script = ("import numpy as np, sys; sys.path.insert(0, '.');"
              "from tests.test_augment import _first_epoch_digest as d;"
              "print(repr(float(np.concatenate(d(0)).astype('float64').sum())))")
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True).stdout.strip().splitlines()[-1]
    assert float(out) == float(np.concatenate(first).astype("float64").sum())

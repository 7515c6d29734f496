"""Tests of the tf.data view augmentations.

The view functions are TensorFlow code whatever the Keras backend (backend-free);
Keras preprocessing layers inside tf.data are checked under every backend.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_semppl.augment import ViewConfig
from keras_semppl.augment import apply_layers
from keras_semppl.augment import byol_view_configs
from keras_semppl.augment import make_view_fn
from keras_semppl.augment import map_with_layers
from keras_semppl.augment import random_resized_crop
from keras_semppl.augment import sample_crop_boxes
from keras_semppl.augment.byol_views import gaussian_blur
from keras_semppl.augment.byol_views import solarize


def _image(channels=3, size=24, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(size=(size, size, channels)).astype(np.float32)


def _views(view_fn, image, example_seed):
    large, small = view_fn(tf.constant(image), example_seed)
    return [v.numpy() for v in large], [v.numpy() for v in small]


# Random resized crop.

@pytest.mark.backend_free
def test_crop_shapes_single_and_batch():
    single = random_resized_crop(_image(), 8, seed=[1, 2])
    batch = random_resized_crop(np.stack([_image(), _image(seed=1)]), (8, 6), seed=[1, 2])
    assert single.shape == (8, 8, 3)
    assert batch.shape == (2, 8, 6, 3)


@pytest.mark.backend_free
def test_crop_is_a_function_of_the_seed():
    image = _image()
    a = random_resized_crop(image, 8, seed=[3, 4]).numpy()
    b = random_resized_crop(image, 8, seed=[3, 4]).numpy()
    c = random_resized_crop(image, 8, seed=[3, 5]).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.mark.backend_free
def test_full_area_crop_of_same_size_is_identity():
    image = _image(size=12)
    out = random_resized_crop(image, 12, seed=[0, 0], area_range=(1.0, 1.0),
                              aspect_ratio_range=(1.0, 1.0)).numpy()
    np.testing.assert_allclose(out, image, atol=1e-6)


@pytest.mark.backend_free
def test_crop_boxes_respect_area_and_aspect_ranges():
    boxes = sample_crop_boxes(tf.constant([7, 8]), 500, 32, 32,
                              area_range=(0.2, 0.5), aspect_ratio_range=(0.75, 4 / 3)).numpy()
    h, w = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    assert np.all(boxes >= 0.0) and np.all(boxes <= 1.0 + 1e-6)
    assert np.all(h * w >= 0.2 - 1e-5) and np.all(h * w <= 0.5 + 1e-5)
    assert np.all(w / h >= 0.75 - 1e-5) and np.all(w / h <= 4 / 3 + 1e-5)


@pytest.mark.backend_free
def test_crop_rejects_bad_arguments():
    with pytest.raises(ValueError, match="area_range"):
        random_resized_crop(_image(), 8, seed=[0, 0], area_range=(0.5, 0.2))
    with pytest.raises(ValueError, match="rank"):
        random_resized_crop(np.zeros((4, 4), np.float32), 8, seed=[0, 0])


# View configurations.

@pytest.mark.backend_free
def test_byol_presets_are_asymmetric():
    views = byol_view_configs(num_large=3, num_small=2, large_size=32, small_size=16)
    assert len(views.large) == 3 and len(views.small) == 2
    one, two, three = views.large
    assert (one.blur_prob, one.solarize_prob) == (1.0, 0.0)
    assert (two.blur_prob, two.solarize_prob) == (0.1, 0.2)
    assert three == one
    assert views.small[0].size == 16 and views.small[0].area_range == (0.05, 0.14)
    assert one.area_range == (0.08, 1.0) and one.jitter_prob == 0.8


@pytest.mark.backend_free
def test_blur_kernel_is_about_ten_percent():
    assert ViewConfig(size=32).blur_radius == 1
    assert ViewConfig(size=224).blur_radius == 11  # BYOL's 23-pixel kernel.
    assert ViewConfig(size=32, blur_kernel_size=5).blur_radius == 2


@pytest.mark.parametrize("kwargs", [dict(flip_prob=1.5), dict(hue=0.7), dict(size=0),
                                    dict(blur_kernel_size=4), dict(blur_sigma_range=(0, 1))])
@pytest.mark.backend_free
def test_view_config_validation(kwargs):
    with pytest.raises(ValueError):
        ViewConfig(**kwargs)


# View functions.

VIEWS = byol_view_configs(num_large=2, num_small=1, large_size=16, small_size=8)
ONE_EACH = byol_view_configs(num_large=1, num_small=1, large_size=16, small_size=8)


@pytest.mark.backend_free
def test_views_shapes_and_range():
    large, small = _views(make_view_fn(VIEWS, seed=0), _image(), 3)
    assert [v.shape for v in large] == [(16, 16, 3)] * 2
    assert [v.shape for v in small] == [(8, 8, 3)]
    for v in large + small:
        assert v.dtype == np.float32
        assert v.min() >= 0.0 and v.max() <= 1.0


@pytest.mark.backend_free
def test_two_views_of_one_image_differ():
    large, _ = _views(make_view_fn(VIEWS, seed=0), _image(), 3)
    assert not np.allclose(large[0], large[1])


@pytest.mark.backend_free
def test_same_seeds_reproduce_views_exactly():
    a = _views(make_view_fn(VIEWS, seed=5), _image(), [11, 3])
    b = _views(make_view_fn(VIEWS, seed=5), _image(), [11, 3])
    for x, y in zip(a[0] + a[1], b[0] + b[1]):
        np.testing.assert_array_equal(x, y)


@pytest.mark.backend_free
def test_different_seeds_give_different_views():
    base = _views(make_view_fn(VIEWS, seed=5), _image(), 3)[0][0]
    other_global = _views(make_view_fn(VIEWS, seed=6), _image(), 3)[0][0]
    other_example = _views(make_view_fn(VIEWS, seed=5), _image(), 4)[0][0]
    assert not np.allclose(base, other_global)
    assert not np.allclose(base, other_example)


@pytest.mark.backend_free
def test_grayscale_input_matches_tiled_rgb():
    gray = _image(channels=1)
    view_fn = make_view_fn(VIEWS, seed=2)
    for example_seed in range(4):
        g_large, g_small = _views(view_fn, gray, example_seed)
        c_large, c_small = _views(view_fn, np.repeat(gray, 3, axis=-1), example_seed)
        for g, c in zip(g_large + g_small, c_large + c_small):
            assert g.shape[-1] == 1
            np.testing.assert_allclose(np.repeat(g, 3, axis=-1), c, atol=2e-3)


@pytest.mark.backend_free
@pytest.mark.parametrize("channels", [2, 4])
def test_bad_channels_raise(channels):
    with pytest.raises(ValueError, match=f"{channels} channels"):
        make_view_fn(VIEWS)(tf.zeros((16, 16, channels)), 0)


@pytest.mark.backend_free
def test_view_fn_runs_inside_tf_data():
    view_fn = make_view_fn(ONE_EACH, seed=0)
    ds = tf.data.Dataset.from_tensor_slices(np.stack([_image(), _image(seed=1)]))
    ds = ds.enumerate().map(lambda i, x: view_fn(x, i))
    large, small = next(iter(ds))
    assert large[0].shape == (16, 16, 3) and small[0].shape == (8, 8, 3)
    eager = _views(view_fn, _image(), 0)
    np.testing.assert_allclose(large[0].numpy(), eager[0][0], atol=1e-6)


@pytest.mark.backend_free
def test_solarize_and_blur_ops():
    x = tf.constant([[[0.2], [0.5]], [[0.7], [1.0]]])
    np.testing.assert_allclose(solarize(x).numpy().ravel(), [0.2, 0.5, 0.3, 0.0], atol=1e-6)
    flat = tf.fill((6, 6, 3), 0.4)
    np.testing.assert_allclose(gaussian_blur(flat, 1.5, 2).numpy(), 0.4, atol=1e-6)


# Keras preprocessing layers in tf.data.

def _flip_dataset():
    images = np.stack([_image(size=8), _image(size=8, seed=1)])
    ds = tf.data.Dataset.from_tensors({"large_views": (images, images), "small_views": ()})
    return images, ds


def test_keras_core_layer_on_dataset():
    images, ds = _flip_dataset()
    flip = keras.layers.RandomFlip("horizontal", seed=0)
    out = next(iter(map_with_layers(ds, [flip])))
    for view in out["large_views"]:
        view = view.numpy()
        for got, original in zip(view, images):
            assert (np.allclose(got, original) or np.allclose(got, original[:, ::-1]))
    assert out["small_views"] == ()


def test_layers_per_key_and_per_view():
    images, ds = _flip_dataset()
    layers = {"large_views": [[lambda x: x * 0.0], [keras.layers.Rescaling(0.5)]]}
    out = next(iter(map_with_layers(ds, layers)))
    np.testing.assert_allclose(out["large_views"][0].numpy(), 0.0)
    np.testing.assert_allclose(out["large_views"][1].numpy(), images * 0.5, atol=1e-6)
    with pytest.raises(ValueError, match="chains"):
        map_with_layers(ds, {"large_views": [[], [], []]})


def test_keras_layer_wraps_view_fn():
    view_fn = map_with_layers(make_view_fn(ONE_EACH, seed=0),
                              {"small_views": keras.layers.Rescaling(0.0)})
    ds = tf.data.Dataset.from_tensors(_image()).map(lambda x: view_fn(x, 0))
    large, small = next(iter(ds))
    assert large[0].shape == (16, 16, 3)
    np.testing.assert_allclose(small[0].numpy(), 0.0)


def test_apply_layers_keeps_inference_identity():
    flip = keras.layers.RandomFlip("horizontal", seed=0)
    ds = tf.data.Dataset.from_tensors(_image()[None]).map(
        lambda x: apply_layers(x, flip, training=False))
    np.testing.assert_array_equal(next(iter(ds)).numpy()[0], _image())


def test_keras_cv_layer_on_dataset():
    keras_cv = pytest.importorskip("keras_cv", reason="keras-cv is optional")
    images, ds = _flip_dataset()
    jitter = keras_cv.layers.RandomColorJitter(
        value_range=(0, 1), brightness_factor=0.2, contrast_factor=0.2,
        saturation_factor=(0.4, 0.6), hue_factor=0.1, seed=0)
    out = next(iter(map_with_layers(ds, [jitter])))
    view = out["large_views"][0].numpy()
    assert view.shape == images.shape
    assert view.min() >= 0.0 and view.max() <= 1.0

"""Device placement: `DeviceViews` inside the compiled train step (every backend)."""

import keras
import numpy as np
import pytest

from keras_semppl.augment import DeviceViews
from keras_semppl.augment import RandomResizedCrop
from keras_semppl.augment import ViewConfig
from keras_semppl.augment import make_view_fn
from keras_semppl.augment import view_preset
from tests.toy_data import tiny_model
from tests.toy_data import toy_batch_dict

PLAIN = dict(area_range=(1.0, 1.0), aspect_ratio_range=(1.0, 1.0), flip_prob=0.0,
             jitter_prob=0.0, grayscale_prob=0.0, blur_prob=0.0, solarize_prob=0.0)


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _images(n=4, size=16, seed=0):
    return np.random.default_rng(seed).random((n, size, size, 3)).astype("float32")


def _views(layer, images, num_large=2, num_small=0, training=True):
    out = layer({"large_views": (images,) * num_large, "small_views": (images,) * num_small},
                training=training)
    return [_np(v) for v in tuple(out["large_views"]) + tuple(out["small_views"])]


def test_each_view_gets_its_own_pipeline():
    """View one solarizes every image, view two leaves it: the asymmetry is kept."""
    images = _images()
    layer = DeviceViews([ViewConfig(size=16, **dict(PLAIN, solarize_prob=1.0)),
                         ViewConfig(size=16, **PLAIN)], seed=0)
    one, two = _views(layer, images)
    np.testing.assert_allclose(one, np.where(images < 0.5, images, 1 - images), atol=1e-6)
    np.testing.assert_allclose(two, images, atol=1e-6)


def test_preset_views_shapes_range_and_inference_passthrough():
    views = view_preset("cifar", num_large=2, num_small=2)
    layer = DeviceViews(views.large, views.small, seed=1)
    out = _views(layer, _images(4, 32), 2, 2)
    assert [v.shape for v in out] == [(4, 32, 32, 3)] * 2 + [(4, 16, 16, 3)] * 2
    assert all(v.min() >= 0 and v.max() <= 1 for v in out)
    images = _images(4, 32)
    np.testing.assert_array_equal(_views(layer, images, 2, 2, training=False)[0], images)


def test_same_seed_same_views_and_different_examples_views_calls_differ():
    images = np.repeat(_images(1, 16), 6, axis=0)  # one image, six times
    views = view_preset("digits", large_size=16)

    def run(seed):
        layer = DeviceViews(views.large, seed=seed)
        return _views(layer, images), _views(layer, images)

    (a1, a2), (b1, b2) = run(3), run(3)
    for x, y in zip(a1 + a2, b1 + b2):
        np.testing.assert_allclose(x, y, atol=1e-6)
    assert not np.allclose(a1[0], run(4)[0][0])
    assert not np.allclose(a1[0][0], a1[0][1])  # each example has its own draws
    assert not np.allclose(a1[0], a1[1])  # view one and view two differ
    assert not np.allclose(a1[0], a2[0])  # the next step draws anew


def test_keras_core_layers_as_device_spec():
    spec = [RandomResizedCrop(12, 12, seed=0), keras.layers.RandomFlip("horizontal", seed=1)]
    layer = DeviceViews([spec], seed=0)
    (out,) = _views(layer, _images(3, 16), 1)
    assert out.shape == (3, 12, 12, 3)


def test_errors_name_the_problem():
    with pytest.raises(TypeError, match="'device' placement"):
        DeviceViews([[lambda x: x]])
    with pytest.raises(ValueError, match="channels"):
        DeviceViews([ViewConfig(size=8)], channels=2)
    layer = DeviceViews([ViewConfig(size=8)] * 2)
    with pytest.raises(ValueError, match="2 large and 0 small"):
        _views(layer, _images(2, 8), 3)


def _fit(seed, views):
    keras.utils.set_random_seed(seed)
    aug = DeviceViews(views.large, views.small, seed=seed, name="device_views")
    model = tiny_model(view_augmentation=aug)
    model.compile(optimizer=keras.optimizers.AdamW(1e-3))
    states = [_np(v).copy() for v in aug.non_trainable_variables]
    history = model.fit(toy_batch_dict(n=64), batch_size=32, epochs=1, verbose=0,
                        shuffle=False)
    moved = [not np.array_equal(_np(v), s) for v, s in zip(aug.non_trainable_variables, states)]
    return model, history.history["loss"], any(moved)


def test_inside_fit_deterministic_and_saved(tmp_path):
    views = view_preset("cifar", num_large=2, num_small=0, large_size=8)
    model, loss, moved = _fit(0, views)
    assert np.isfinite(loss[-1]) and moved  # drawn inside the step (state read back on JAX)
    _, again, _ = _fit(0, views)
    np.testing.assert_allclose(loss, again, rtol=1e-5)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded.view_augmentation, DeviceViews)
    assert loaded.view_augmentation.get_config() == model.view_augmentation.get_config()
    assert loaded.view_augmentation.large_specs == views.large


def test_host_half_of_device_placement_delivers_source_images():
    views = view_preset("cifar", num_large=2, num_small=1)
    fn = make_view_fn(views, placement="device")
    image = _images(1, 32)[0]
    large, small = fn(image, 0)
    assert len(large) == 2 and len(small) == 1
    np.testing.assert_array_equal(np.asarray(small[0]), image)

"""`DeviceViewAugmentation`: keras.ops augmentation inside the compiled step."""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_semppl.augment.device_augment import DeviceViewAugmentation
from keras_semppl.augment.device_augment import crop_and_resize
from keras_semppl.augment.device_augment import sample_boxes
from tests.toy_data import tiny_model, toy_batch_dict

NO_COLOUR = dict(flip_prob=0.0, jitter_prob=0.0, grayscale_prob=0.0, blur_prob=0.0,
                 solarize_prob=0.0)


def _np(x):
    return ops.convert_to_numpy(x)


def _images(n=4, size=12, seed=0):
    return np.random.default_rng(seed).random((n, size, size, 3)).astype("float32")


def test_crop_and_resize_matches_tf_crop_and_resize():
    images = _images(3, 10)
    boxes = np.array([[0.0, 0.0, 1.0, 1.0], [0.1, 0.25, 0.6, 0.9], [0.3, 0.05, 0.95, 0.5]],
                     "float32")
    ours = _np(crop_and_resize(ops.convert_to_tensor(images), ops.convert_to_tensor(boxes), (7, 9)))
    ref = tf.image.crop_and_resize(images, boxes, tf.range(3), (7, 9)).numpy()
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_sampled_boxes_inside_image_with_requested_area():
    boxes = _np(sample_boxes(500, keras.random.SeedGenerator(1), (0.2, 0.5), (0.75, 4 / 3)))
    assert boxes.min() >= -1e-6 and boxes.max() <= 1 + 1e-6
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    assert area.min() >= 0.2 - 1e-4 and area.max() <= 0.5 + 1e-4


def test_identity_settings_and_inference_mode_return_input():
    images = _images()
    layer = DeviceViewAugmentation(area_range=(1.0, 1.0), aspect_ratio_range=(1.0, 1.0),
                                   **NO_COLOUR, seed=0)
    np.testing.assert_allclose(_np(layer(images, training=True)), images, atol=1e-5)
    np.testing.assert_array_equal(_np(DeviceViewAugmentation(seed=0)(images)), images)


def test_grayscale_and_solarize_against_numpy():
    images = _images()
    whole = dict(area_range=(1.0, 1.0), aspect_ratio_range=(1.0, 1.0), **NO_COLOUR)
    gray = _np(DeviceViewAugmentation(**dict(whole, grayscale_prob=1.0))(images, training=True))
    luma = images @ np.array([0.2989, 0.587, 0.114], "float32")
    np.testing.assert_allclose(gray, np.repeat(luma[..., None], 3, -1), atol=1e-5)
    solar = _np(DeviceViewAugmentation(**dict(whole, solarize_prob=1.0))(images, training=True))
    np.testing.assert_allclose(solar, np.where(images < 0.5, images, 1 - images), atol=1e-5)


def test_default_views_shape_range_and_differ():
    images = np.repeat(_images(1, 16), 4, axis=0)  # one image, four times
    layer = DeviceViewAugmentation(blur_prob=0.5, solarize_prob=0.2, seed=3)
    a, b = _np(layer(images, training=True)), _np(layer(images, training=True))
    assert a.shape == images.shape and a.dtype == np.float32
    assert a.min() >= 0.0 and a.max() <= 1.0
    assert not np.allclose(a, b)  # successive calls draw anew
    assert not np.allclose(a[0], a[1])  # each example has its own draws
    gray = DeviceViewAugmentation(seed=0)(images[..., :1], training=True)
    assert tuple(gray.shape) == (4, 16, 16, 1)


def test_inside_fit_and_save_load(tmp_path):
    aug = DeviceViewAugmentation(blur_prob=0.5, seed=7, name="device_aug")
    model = tiny_model(view_augmentation=aug)
    model.compile(optimizer=keras.optimizers.AdamW(1e-3))
    state_before = _np(aug.seed_generator.state.value).copy()
    history = model.fit(toy_batch_dict(n=64), batch_size=32, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])
    # The layer drew random numbers inside the compiled step (state read back on JAX).
    assert not np.array_equal(_np(aug.seed_generator.state.value), state_before)
    path = str(tmp_path / "aug.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded.view_augmentation, DeviceViewAugmentation)
    assert loaded.view_augmentation.get_config() == aug.get_config()
    assert loaded.get_config()["view_augmentation"]["config"]["blur_prob"] == 0.5
    assert tiny_model().get_config()["view_augmentation"] is None

"""keras-cv and Keras layers as view specs, in both placements (every backend).

Host: keras-cv layers run inside tf.data under JAX, TensorFlow and PyTorch.
Device: they run in a TensorFlow train step (without XLA); on JAX and PyTorch
the library refuses them with an error naming the layer and the placement.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

keras_cv = pytest.importorskip(
    "keras_cv", reason="keras-cv is the optional extra keras-semppl[keras-cv]")

from keras_semppl.augment import DeviceViews  # noqa: E402
from keras_semppl.augment import ViewConfig  # noqa: E402
from keras_semppl.augment import ViewSet  # noqa: E402
from keras_semppl.augment import make_view_fn  # noqa: E402
from keras_semppl.data.pipeline import make_training_dataset  # noqa: E402

BACKEND = keras.backend.backend()


def _images(n=8, size=24, seed=0):
    return np.random.default_rng(seed).random((n, size, size, 3)).astype("float32")


def _crop(seed=1):
    return keras_cv.layers.RandomCropAndResize(
        target_size=(16, 16), crop_area_factor=(0.08, 1.0), aspect_ratio_factor=(3 / 4, 4 / 3),
        seed=seed)


def _batch(views, n=8):
    images = _images(n)
    labels = np.where(np.arange(n) < 2, 0, -1)
    ds = make_training_dataset(images, labels, n, make_view_fn(views, seed=0), seed=0)
    batch = next(iter(ds))
    return [v.numpy() for v in batch["large_views"]]


def test_keras_cv_layers_in_the_host_placement():
    spec = [_crop(),
            keras_cv.layers.RandomFlip("horizontal", seed=2),
            keras_cv.layers.RandomColorJitter(value_range=(0, 1), brightness_factor=0.4,
                                              contrast_factor=0.4, saturation_factor=(0.4, 0.6),
                                              hue_factor=0.1, seed=3),
            keras_cv.layers.RandomSaturation((0.3, 0.7), seed=4)]
    ours, theirs = _batch(ViewSet((ViewConfig(size=16), spec)))
    assert ours.shape == theirs.shape == (8, 16, 16, 3)
    assert theirs.min() >= 0.0 and theirs.max() <= 1.0 + 1e-6
    assert not np.allclose(theirs[0], theirs[1])  # per-example randomness


def test_keras_cv_grayscale_and_flip_against_numpy():
    images = _images(4, 16)
    gray = keras_cv.layers.Grayscale(output_channels=3)
    flip = keras_cv.layers.RandomFlip("horizontal", seed=0)

    def views(spec):
        fn = make_view_fn(ViewSet((spec,)), seed=0)
        ds = tf.data.Dataset.from_tensor_slices(images).map(lambda x: fn(x, 0)[0][0])
        return np.stack(list(ds.as_numpy_iterator()))

    luma = images @ np.array([0.2989, 0.587, 0.114], "float32")
    np.testing.assert_allclose(views([gray]), np.repeat(luma[..., None], 3, -1), atol=1e-3)
    flipped = views([flip])
    for out, image in zip(flipped, images):  # each view is the image or its mirror
        assert np.allclose(out, image, atol=1e-6) or np.allclose(out, image[:, ::-1], atol=1e-6)


@pytest.mark.skipif(BACKEND == "tensorflow", reason="keras-cv layers are TensorFlow code, "
                    "accepted on the device under the TensorFlow backend")
def test_keras_cv_on_device_is_refused_on_jax_and_torch():
    with pytest.raises(ValueError, match=r"keras_cv\.layers\.RandomCropAndResize.*'device' "
                                         rf"placement on the {BACKEND} backend"):
        DeviceViews([[_crop()]])


@pytest.mark.skipif(BACKEND != "tensorflow", reason="the device placement of keras-cv "
                    "layers exists only under the TensorFlow backend")
def test_keras_cv_on_device_under_tensorflow():
    layer = DeviceViews([[_crop(), keras_cv.layers.Grayscale(output_channels=3)]], seed=0)
    step = tf.function(lambda x: layer({"large_views": (x,), "small_views": ()},
                                       training=True)["large_views"][0])
    out = step(tf.constant(_images(4, 24))).numpy()
    assert out.shape == (4, 16, 16, 3)
    np.testing.assert_allclose(out[..., 0], out[..., 2], atol=1e-5)

"""View specs: our recipe, or any Keras / keras-cv preprocessing layers.

A view spec is what one view's augmentation is built from:

- a `ViewConfig` (the recipe, `keras_semppl.augment.byol_views`), turned
  into Keras core layers plus ours by `view_layers`;
- a Keras layer, a keras-cv layer, or a list of them, applied in order to
  the view (with `training=True`). The layers must take images in [0, 1]
  (colour layers: pass `value_range=(0, 1)`) and return the view at its final
  size, e.g. `keras_cv.layers.RandomCropAndResize(target_size=(32, 32), ...)`
  first.

Where a layer can run:

| layer | host (`tf.data`) | device (train step) |
|---|---|---|
| Keras core preprocessing layers, ours | all backends | all backends |
| keras-cv layers | all backends | TensorFlow only, without XLA |
| other Keras layers written with `keras.ops` | all backends | all backends |
| plain callables (TensorFlow ops) | all backends | no (not a saved layer) |

keras-cv layers are written in TensorFlow ops and draw from TensorFlow
random generators: in `tf.data` they run under any backend, but a JAX or
PyTorch train step cannot trace them, and `RandomCropAndResize` has no XLA
kernel (so not under `jit_compile=True` on TensorFlow either). In the host
placement Keras core layers and ours draw from per-example stateless seeds
(`keras_semppl.augment.seeding`); keras-cv layers keep their own generators,
so their views are random per example but not reproducible run to run.
"""

import keras

from keras_semppl.augment.byol_views import ViewConfig
from keras_semppl.augment.byol_views import view_layers

PLACEMENTS = ("host", "device")


def _check_placement(placement):
    if placement not in PLACEMENTS:
        raise ValueError(f"`placement` must be one of {PLACEMENTS}; got {placement!r}.")


def is_keras_cv_layer(layer):
    """True for a keras-cv layer (by the module of its class)."""
    return type(layer).__module__.split(".")[0] == "keras_cv"


def describe(layer):
    """A readable name for errors: `keras_cv.layers.Grayscale 'grayscale'`."""
    cls = type(layer)
    root = cls.__module__.split(".")[0]
    where = f"{root}.layers." if root in ("keras", "keras_cv") else f"{cls.__module__}."
    name = getattr(layer, "name", None)
    return f"{where}{cls.__name__}" + (f" {name!r}" if name else "")


def check_layer(layer, placement, backend=None):
    """Raises (naming the layer, the placement and the backend) unless
    `layer` can run in `placement` under `backend` (default: the current
    Keras backend)."""
    _check_placement(placement)
    backend = backend or keras.backend.backend()
    if placement == "host":
        if not callable(layer):
            raise TypeError(f"A view augmentation must be a Keras layer or a callable; got "
                            f"{type(layer).__name__} in the 'host' placement.")
        return
    if not isinstance(layer, keras.layers.Layer):
        raise TypeError(
            f"{describe(layer)} cannot run in the 'device' placement: it must be a "
            "keras.layers.Layer (it becomes part of the saved model); use the 'host' placement.")
    if is_keras_cv_layer(layer) and backend != "tensorflow":
        raise ValueError(
            f"{describe(layer)} cannot run in the 'device' placement on the {backend} backend: "
            "keras-cv layers are TensorFlow code that a JAX or PyTorch train step cannot "
            "trace. Use the 'host' placement (tf.data), the TensorFlow backend, or the Keras "
            "core layer of the same name (keras.layers.*).")


def spec_layers(spec, placement, channels=3, seed=None, backend=None):
    """The list of layers of one view spec, checked for `placement`.

    Args:
        spec: a `ViewConfig`, a layer / callable, or a list of them.
        placement: "host" or "device".
        channels: image channels (1 or 3), for a `ViewConfig`.
        seed: seed of the layers built from a `ViewConfig`.
        backend: Keras backend name (default: the current one).
    """
    _check_placement(placement)
    if isinstance(spec, ViewConfig):
        return view_layers(spec, channels, seed)
    layers = list(spec) if isinstance(spec, (list, tuple)) else [spec]
    if not layers:
        raise ValueError("A view spec must not be an empty list of layers.")
    for layer in layers:
        if isinstance(layer, ViewConfig):
            raise TypeError("A ViewConfig must be a view spec on its own, not inside a "
                            "list of layers.")
        check_layer(layer, placement, backend)
    return layers


def apply_layers(images, layers, training=True):
    """Applies `layers` in order; Keras layers get `training=training`."""
    for layer in layers:
        if isinstance(layer, keras.layers.Layer):
            images = layer(images, training=training)
        else:
            images = layer(images)
    return images

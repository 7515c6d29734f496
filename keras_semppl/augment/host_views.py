"""Host placement: the views of one example inside `tf.data.Dataset.map`."""

import tensorflow as tf

from keras_semppl.augment.byol_views import SUPPORTED_CHANNELS
from keras_semppl.augment.byol_views import ViewConfig
from keras_semppl.augment.byol_views import ViewSet
from keras_semppl.augment.layer_adapter import PLACEMENTS
from keras_semppl.augment.layer_adapter import apply_layers
from keras_semppl.augment.layer_adapter import spec_layers
from keras_semppl.augment.seeding import example_seeded
from keras_semppl.augment.seeding import view_key


def as_view_set(views):
    """A `ViewSet` from a `ViewSet` or a pair (large specs, small specs)."""
    try:
        large, small = views
    except (TypeError, ValueError):
        raise TypeError("`views` must be a ViewSet or a pair (large view specs, small view "
                        f"specs); got {type(views).__name__}.") from None
    large, small = tuple(large), tuple(small)
    if not large:
        raise ValueError("`views` needs at least one large view.")
    return ViewSet(large, small)


def check_image(image, name="image"):
    """float32 (H, W, C) in [0, 1] from a float or integer image tensor."""
    image = tf.convert_to_tensor(image)
    if image.shape.rank != 3:
        raise ValueError(f"`{name}` must have rank 3 (H, W, C); got shape {tuple(image.shape)}.")
    if image.shape[-1] not in SUPPORTED_CHANNELS:
        raise ValueError(
            f"`{name}` must have 1 or 3 channels (last axis); got {image.shape[-1]} "
            f"channels in shape {tuple(image.shape)}.")
    if not image.dtype.is_floating:
        image = tf.image.convert_image_dtype(image, tf.float32)
    return tf.cast(image, tf.float32)


def source_view_fn(num_large, num_small):
    """The host half of the device placement: every view is the source image
    (float32 in [0, 1]); `DeviceViews` crops and augments them in the step."""

    def view_fn(image, example_seed):
        del example_seed  # the device layer draws the randomness
        image = check_image(image)
        return (image,) * num_large, (image,) * num_small

    return view_fn


def make_view_fn(views, seed=0, placement="host"):
    """Builds `view_fn(image, example_seed) -> (large_views, small_views)`.

    Args:
        views: a `ViewSet` (e.g. from `view_preset` or `byol_view_configs`)
            or a pair (large specs, small specs); each spec a `ViewConfig`
            or Keras / keras-cv layers (`keras_semppl.augment.layer_adapter`).
        seed: the global seed (int).
        placement: "host" (default): the views are computed here, inside
            `tf.data`; "device": the views are the source image, to be
            augmented in the train step by `DeviceViews` (see
            `keras_semppl.augment.device_views`).

    The returned function takes `image`, a float (H, W, C) tensor in [0, 1]
    (integer images are rescaled from their dtype's range), C in {1, 3}, and
    `example_seed`, an int scalar or an int vector of static length (the
    training pipeline passes (per-iteration salt, example id)). It returns a
    tuple of L float32 (size, size, C) tensors and a tuple of S. With the
    recipe (and Keras core layers) each view is a deterministic function of
    (seed, example_seed, view index). It runs inside `tf.data.Dataset.map`
    under any Keras backend.
    """
    if placement not in PLACEMENTS:
        raise ValueError(f"`placement` must be one of {PLACEMENTS}; got {placement!r}.")
    views = as_view_set(views)
    specs = views.large + views.small
    if placement == "device":
        view_fn = source_view_fn(len(views.large), len(views.small))
    else:
        global_seed = int(seed)
        # Built here, outside any trace: layers own seed-generator variables.
        built = []
        for index, spec in enumerate(specs):
            if isinstance(spec, ViewConfig):
                built.append({c: spec_layers(spec, "host", c, seed=global_seed + index)
                              for c in SUPPORTED_CHANNELS})
            else:
                layers = spec_layers(spec, "host")
                built.append({c: layers for c in SUPPORTED_CHANNELS})

        def views_in_graph(image, batch, example_seed):
            out = []
            for index, layers in enumerate(built):
                layers = layers[image.shape[-1]]
                with example_seeded(layers, view_key(global_seed, example_seed, index)):
                    view = apply_layers(batch, layers, training=True)[0]
                out.append(tf.cast(view, tf.float32))
            return tuple(out[:len(views.large)]), tuple(out[len(views.large):])

        # Keras layers use TensorFlow ops only inside a TensorFlow graph (as in
        # tf.data); an eager call goes through a tf.function as well.
        traced = tf.function(views_in_graph, autograph=False, reduce_retracing=True)

        def view_fn(image, example_seed):
            image = check_image(image)
            return traced(image, image[tf.newaxis], example_seed)

    view_fn.view_configs = views
    view_fn.placement = placement
    return view_fn

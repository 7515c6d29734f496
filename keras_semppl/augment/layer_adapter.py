"""Use Keras preprocessing layers on the views of the `tf.data` pipeline.

An alternative to the stateless ops of `byol_views`: any Keras core
preprocessing layer (`keras.layers.RandomFlip`, `RandomColorJitter`,
`RandomGrayscale`, `RandomGaussianBlur`, `Solarization`, ...) or a keras-cv
layer can transform the views. Inside `tf.data.Dataset.map`, Keras 3 runs its
core preprocessing layers with TensorFlow ops whatever the backend; keras-cv
layers are TensorFlow-only anyway. Notes:

- Colour layers assume `value_range=(0, 255)` unless told; views here are in
  [0, 1], so pass `value_range=(0, 1)`.
- Layer randomness comes from the layer's own seed generator, not from the
  per-example stateless seeds: unlike `byol_views`, results are not a pure
  function of (seed, example id, view).
- Do not reuse a layer instance inside a compiled model step as well (it
  breaks on JAX); build a separate instance for `tf.data`.
"""

from collections.abc import Mapping, Sequence

import keras
import tensorflow as tf

VIEW_KEYS = ("large_views", "small_views")


def _as_chain(layers):
    if callable(layers):
        return (layers,)
    chain = tuple(layers)
    for layer in chain:
        if not callable(layer):
            raise TypeError(f"Expected a layer or callable; got {type(layer).__name__}.")
    return chain


def _is_chain_list(spec):
    """True for a sequence of chains (one per view), i.e. a list of lists."""
    return (isinstance(spec, Sequence) and len(spec) > 0
            and all(isinstance(s, Sequence) for s in spec))


def _chain_for(layers, key, index, num_views):
    spec = layers
    if isinstance(layers, Mapping):
        if key not in layers:
            return ()
        spec = layers[key]
    if _is_chain_list(spec):
        if len(spec) != num_views:
            raise ValueError(
                f"`layers[{key!r}]` gives {len(spec)} chains but there are "
                f"{num_views} {key}.")
        return _as_chain(spec[index])
    return _as_chain(spec)


def apply_layers(images, layers, training=True):
    """Applies `layers` in order to (H, W, C) or (B, H, W, C) images.

    Keras layers are called with `training=training` (random layers are
    no-ops at inference); other callables get the images only.
    """
    for layer in _as_chain(layers):
        if isinstance(layer, keras.layers.Layer):
            images = layer(images, training=training)
        else:
            images = layer(images)
    return images


def _map_views(views_by_key, layers, keys, training):
    out = dict(views_by_key)
    for key in keys:
        views = views_by_key.get(key)
        if views is None:
            continue
        out[key] = tuple(
            apply_layers(view, _chain_for(layers, key, i, len(views)), training)
            for i, view in enumerate(views))
    return out


def map_with_layers(dataset_or_fn, layers, keys=VIEW_KEYS, training=True,
                    num_parallel_calls=tf.data.AUTOTUNE):
    """Applies Keras preprocessing layers to every view.

    Args:
        dataset_or_fn: either a `tf.data.Dataset` of training dicts (batched
            or not; views under `keys`), or a view function
            `view_fn(image, example_seed) -> (large_views, small_views)`.
        layers: a layer (or callable), or a sequence of them applied in order
            to every view; or a mapping from key ("large_views",
            "small_views") to such a chain, or to a list of chains with one
            chain per view of that key. Keys absent from the mapping are left
            unchanged.
        keys: which entries of the dict hold view tuples.
        training: passed to Keras layers.
        num_parallel_calls: for `Dataset.map`.

    Returns:
        A dataset with the same structure, or a view function with the same
        signature, whose views went through the layers.
    """
    if isinstance(dataset_or_fn, tf.data.Dataset):
        return dataset_or_fn.map(
            lambda batch: _map_views(batch, layers, keys, training),
            num_parallel_calls=num_parallel_calls)
    if not callable(dataset_or_fn):
        raise TypeError("`dataset_or_fn` must be a tf.data.Dataset or a view function; "
                        f"got {type(dataset_or_fn).__name__}.")
    view_fn = dataset_or_fn

    def layered_view_fn(image, example_seed):
        large, small = view_fn(image, example_seed)
        out = _map_views({VIEW_KEYS[0]: large, VIEW_KEYS[1]: small}, layers,
                         VIEW_KEYS, training)
        return out[VIEW_KEYS[0]], out[VIEW_KEYS[1]]

    if hasattr(view_fn, "view_configs"):
        layered_view_fn.view_configs = view_fn.view_configs
    return layered_view_fn

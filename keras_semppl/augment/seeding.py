"""Per-example stateless seeds for Keras preprocessing layers inside `tf.data`.

Keras preprocessing layers draw their random numbers from a
`keras.random.SeedGenerator` held by the layer. Inside a parallel
`tf.data.Dataset.map`, several examples advance that shared state in an order
that changes from run to run, so the views of an example would depend on
thread timing. The host placement therefore seeds every draw from the
example itself: while a view's layers are traced for one example, each layer's
seed generator is swapped for `ExampleSeed`, whose n-th draw is
`fold_in(key, n)` for the example's key. A view is then a pure function of
(global seed, per-example salt, example id, view index), whatever the map's
parallelism.

The swap uses `DataLayer._get_seed_generator`, the single place where Keras'
own image layers (and ours) look up their generator. Layers without it
(keras-cv layers, plain callables) keep their own randomness.
"""

import contextlib

import keras
import tensorflow as tf


class ExampleSeed(keras.random.SeedGenerator):
    """A seed "generator" whose draws are stateless functions of one key.

    It subclasses `keras.random.SeedGenerator` only so that Keras' random ops
    accept it; it holds no variable. The n-th `next()` returns
    `stateless_fold_in(key, n)`: distinct per draw, identical for the same key
    and the same sequence of draws. TensorFlow only (host placement).

    Args:
        key: int tensor of shape (2,).
    """

    def __init__(self, key):  # pylint: disable=super-init-not-called
        # No Variable: the state is the Python draw counter of one trace.
        self.name = "example_seed"
        self.backend = None
        self._key = tf.cast(key, tf.int64)
        self._draws = 0

    def next(self, ordered=True):
        self._draws += 1
        return tf.random.experimental.stateless_fold_in(self._key, self._draws)

    def get_config(self):
        raise TypeError("ExampleSeed is a transient per-example seed; it is not serialisable.")


def seedable_layers(layer):
    """The layers of `layer`'s tree (itself included) that draw through
    `_get_seed_generator`."""
    found = []
    if isinstance(layer, keras.layers.Layer):
        candidates = [layer] + [l for l in layer._flatten_layers(include_self=False)]
        for candidate in candidates:
            if callable(getattr(type(candidate), "_get_seed_generator", None)):
                found.append(candidate)
    return found


@contextlib.contextmanager
def example_seeded(layers, key):
    """Within the block, every seedable layer in `layers` draws from one
    `ExampleSeed(key)`.

    Args:
        layers: a layer or a sequence of layers (their sub-layers included).
        key: int tensor (2,), the example-and-view key.
    """
    if isinstance(layers, keras.layers.Layer):
        layers = [layers]
    seed = ExampleSeed(key)
    patched = []
    try:
        for top in layers:
            for layer in seedable_layers(top):
                object.__setattr__(layer, "_get_seed_generator",
                                   lambda backend=None, _seed=seed: _seed)
                patched.append(layer)
        yield seed
    finally:
        for layer in patched:
            if "_get_seed_generator" in layer.__dict__:
                object.__delattr__(layer, "_get_seed_generator")


def view_key(global_seed, example_seed, view_index):
    """int64 (2,) key of one view: (global seed) folded with every entry of
    `example_seed` (an int scalar or vector), then with `view_index`."""
    key = tf.constant([int(global_seed), 0], tf.int64)
    example_seed = tf.reshape(tf.cast(example_seed, tf.int64), [-1])
    for i in range(example_seed.shape[0]):
        key = tf.random.experimental.stateless_fold_in(key, example_seed[i])
    return tf.random.experimental.stateless_fold_in(key, int(view_index))

"""The Keras base class of our preprocessing layers.

`DataLayer` (Keras >= 3.11; `TFDataLayer` before) is what makes Keras' own
image layers usable inside `tf.data` on every backend: inside a TensorFlow
graph its `__call__` switches `self.backend` to TensorFlow, and random draws
go through `self._get_seed_generator(...)`. It is not exported under
`keras.layers`, hence this one guarded import.
"""

try:
    from keras.src.layers.preprocessing.data_layer import DataLayer
except ImportError:  # Keras 3.10
    from keras.src.layers.preprocessing.tf_data_layer import TFDataLayer as DataLayer

__all__ = ["DataLayer"]

"""Global-batch BatchNorm statistics for one run over several replicas
(TensorFlow strategies, torch's data-parallel processes)."""

import keras

from keras_semppl.layers.batch_norm import BatchNormalization


class SynchronizedBatchNorm(keras.callbacks.Callback):
    """Makes every `keras_semppl.layers.BatchNormalization` of the model use
    the statistics of the global batch (summed over all replicas) in training.

    Under a TensorFlow strategy with several replicas, or in torch's
    data-parallel `fit` over several processes, each replica otherwise
    normalises its own rows. The switch is not saved: the model's files stay
    loadable on every backend, and a resumed run sets it again. A no-op on
    JAX, whose step already sees the global batch.
    """

    def set_model(self, model):
        super().set_model(model)
        for layer in model._flatten_layers(include_self=False, recursive=True):
            if isinstance(layer, BatchNormalization):
                layer.sync_replicas = True

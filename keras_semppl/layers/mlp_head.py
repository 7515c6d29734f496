"""Projector / predictor MLP of BYOL: Dense -> BatchNorm -> ReLU -> Dense."""

import keras

from keras_semppl.layers.batch_norm import BatchNormalization


@keras.saving.register_keras_serializable(package="keras_semppl")
class MLPHead(keras.layers.Layer):
    """Two-layer MLP head (BYOL, Grill et al. 2020: 4096 hidden, 256 out).

    Args:
        hidden_dim: width of the hidden layer.
        output_dim: width of the output.
        use_batch_norm: BatchNorm after the hidden Dense (BYOL: yes).
        sync_batch_norm: that BatchNorm uses the statistics of the global
            batch under a `tf.distribute` strategy and in torch's
            data-parallel `fit` over processes (SimCLR/BYOL's cross-replica
            BN). A no-op on JAX, whose step already sees the global batch.

    Shapes: (B, F) -> (B, output_dim).
    """

    def __init__(self, hidden_dim, output_dim, use_batch_norm=True, sync_batch_norm=False,
                 **kwargs):
        super().__init__(**kwargs)
        for name, value in (("hidden_dim", hidden_dim), ("output_dim", output_dim)):
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"MLPHead {name} must be a positive int; got {value!r}.")
        self.hidden = keras.layers.Dense(hidden_dim, use_bias=not use_batch_norm, name="hidden")
        self.norm = None
        if use_batch_norm:
            synchronized = bool(sync_batch_norm) and keras.backend.backend() != "jax"
            self.norm = BatchNormalization(synchronized=synchronized, name="norm")
        self.out = keras.layers.Dense(output_dim, name="out")
        self.hidden_dim = hidden_dim
        self.output_dim = output_dim
        self.use_batch_norm = use_batch_norm
        self.sync_batch_norm = bool(sync_batch_norm)

    def build(self, input_shape):
        self.hidden.build(input_shape)
        hidden_shape = tuple(input_shape[:-1]) + (self.hidden_dim,)
        if self.norm is not None:
            self.norm.build(hidden_shape)
        self.out.build(hidden_shape)
        self.built = True

    def call(self, inputs, training=None):
        x = self.hidden(inputs)
        if self.norm is not None:
            x = self.norm(x, training=training)
        x = keras.ops.relu(x)
        return self.out(x)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.output_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            hidden_dim=self.hidden_dim,
            output_dim=self.output_dim,
            use_batch_norm=self.use_batch_norm,
            sync_batch_norm=self.sync_batch_norm,
        )
        return config

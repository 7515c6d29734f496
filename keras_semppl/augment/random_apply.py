"""`RandomApply`: apply a layer to each image with a probability."""

import keras

from keras_semppl.augment._base import DataLayer


@keras.saving.register_keras_serializable(package="keras_semppl")
class RandomApply(DataLayer):
    """Applies `layer` to each image of a batch with probability `rate`.

    BYOL applies colour jitter with p=0.8 and solarisation with p=0.2 per
    image (Grill et al. 2020, Table 6); Keras' `RandomColorJitter` and
    `Solarization` have no such probability. The wrapped layer transforms the
    whole batch and each image keeps the result with probability `rate`
    (one uniform draw per image); on a single image under TensorFlow (the
    host placement) the layer runs only when drawn.
    At inference (`training=False`) the input is returned.

    Args:
        layer: a Keras layer (B, H, W, C) -> same shape, e.g. a Keras
            preprocessing layer.
        rate: probability in [0, 1].
        seed: int seed of the per-image coin.
    """

    def __init__(self, layer, rate=0.5, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, keras.layers.Layer):
            raise TypeError(f"`layer` must be a keras.layers.Layer; got {type(layer).__name__}.")
        if isinstance(rate, bool) or not 0.0 <= float(rate) <= 1.0:
            raise ValueError(f"`rate` must be a probability in [0, 1]; got {rate!r}.")
        self.layer = layer
        self.rate = float(rate)
        self.seed = seed
        self.generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build(input_shape)
        self.built = True

    def call(self, images, training=True):
        if not training or self.rate == 0.0:
            return images
        ops = self.backend
        batched = len(images.shape) == 4
        count = ops.shape(images)[0] if batched else 1
        seed = self._get_seed_generator(ops._backend)
        coin = ops.random.uniform((count,), seed=seed) if self.rate < 1.0 else None
        if count == 1 and coin is not None and ops._backend == "tensorflow":
            # One image (the host placement): compute the layer only when applied.
            return ops.core.cond(coin[0] < self.rate,
                                 lambda: ops.cast(self.layer(images, training=training),
                                                  self.compute_dtype),
                                 lambda: ops.cast(images, self.compute_dtype))
        # A copy: on PyTorch, Keras' RandomBrightness adds in place (`images +=`),
        # which would leak into the images that keep their input.
        out = self.layer(ops.numpy.copy(images), training=training)
        if coin is None:
            return out
        keep = ops.numpy.reshape(coin < self.rate, (-1, 1, 1, 1) if batched else (1, 1, 1))
        return ops.numpy.where(keep, out, ops.cast(images, out.dtype))

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(layer=keras.saving.serialize_keras_object(self.layer), rate=self.rate,
                      seed=self.seed)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["layer"] = keras.saving.deserialize_keras_object(config["layer"])
        return cls(**config)

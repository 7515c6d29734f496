"""`Solarize`: BYOL's solarisation with a fixed threshold."""

import keras

from keras_semppl.augment._base import DataLayer


@keras.saving.register_keras_serializable(package="keras_semppl")
class Solarize(DataLayer):
    """x -> high + low - x where x >= threshold (BYOL: 1 - x where x >= 0.5).

    Keras' `Solarization` draws its threshold from
    [threshold_factor[0], 255 * threshold_factor[1]] (0-255 scale), which
    cannot express BYOL's fixed threshold of half the value range; this layer
    is deterministic and is wrapped in `RandomApply` for BYOL's p=0.2. At
    inference (`training=False`) the input is returned.

    Args:
        threshold: as a fraction of the value range, in [0, 1]; BYOL: 0.5.
        value_range: (low, high) of the images; views here are in (0, 1).
    """

    def __init__(self, threshold=0.5, value_range=(0.0, 1.0), **kwargs):
        super().__init__(**kwargs)
        if isinstance(threshold, bool) or not 0.0 <= float(threshold) <= 1.0:
            raise ValueError(f"`threshold` must be in [0, 1]; got {threshold!r}.")
        low, high = (float(v) for v in value_range)
        if not low < high:
            raise ValueError(f"`value_range` must be (low, high) with low < high; "
                             f"got {value_range!r}.")
        self.threshold = float(threshold)
        self.value_range = (low, high)

    def call(self, images, training=True):
        if not training:
            return images
        low, high = self.value_range
        cut = low + self.threshold * (high - low)
        return self.backend.numpy.where(images < cut, images, high + low - images)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(threshold=self.threshold, value_range=self.value_range)
        return config

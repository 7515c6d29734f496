"""Per-channel image standardisation, ImageNet's statistics by default."""

import keras
from keras import ops

#: ImageNet's RGB mean and standard deviation for images in [0, 1] (the
#: values the SemPPL / BYOL release normalises with, ``utils/dataset.py``).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@keras.saving.register_keras_serializable(package="keras_semppl")
class ImageNormalization(keras.layers.Layer):
    """``(images - mean) / std`` per channel, channels last.

    A pretrained encoder's first layer: the released SemPPL encoders expect
    RGB images in [0, 1] standardised with ImageNet's statistics, which the
    release applies in its input pipeline and a converted encoder applies
    here, so it takes images in [0, 1] like every encoder of this package.

    Args:
        mean, std: per-channel sequences (default ImageNet's RGB ones).

    Shapes: (B, H, W, C) -> same, C == len(mean).
    """

    def __init__(self, mean=IMAGENET_MEAN, std=IMAGENET_STD, **kwargs):
        super().__init__(**kwargs)
        mean, std = [float(v) for v in mean], [float(v) for v in std]
        if len(mean) != len(std) or not mean:
            raise ValueError(f"ImageNormalization mean and std need the same non-zero length; "
                             f"got {len(mean)} and {len(std)}.")
        if min(std) <= 0:
            raise ValueError(f"ImageNormalization std must be positive; got {std}.")
        self.mean, self.std = mean, std

    def call(self, images):
        dtype = keras.backend.standardize_dtype(images.dtype)
        mean = ops.convert_to_tensor(self.mean, dtype=dtype)
        std = ops.convert_to_tensor(self.std, dtype=dtype)
        return ops.divide(ops.subtract(images, mean), std)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mean": list(self.mean), "std": list(self.std)}

"""Image encoders mapping images (B, H, W, C) to pooled features (B, F)."""

from keras_semppl.encoders.checks import check_encoder
from keras_semppl.encoders.checks import encoder_output_dim
from keras_semppl.encoders.resnet import resnet18
from keras_semppl.encoders.resnet import resnet34
from keras_semppl.encoders.resnet import resnet50
from keras_semppl.encoders.resnet import resnet_v1
from keras_semppl.encoders.small_convnet import small_convnet

__all__ = [
    "check_encoder",
    "encoder_output_dim",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet_v1",
    "small_convnet",
]

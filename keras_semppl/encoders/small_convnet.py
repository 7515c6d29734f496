"""A tiny conv-BN-ReLU encoder for CPU demos and tests."""

import keras
from keras import layers

from keras_semppl.layers.batch_norm import BatchNormalization


def small_convnet(input_shape, widths=(32, 64, 128), name="small_convnet"):
    """Small ConvNet: images `(B, H, W, C)` -> features `(B, widths[-1])`.

    One block per entry of `widths`: 3x3 Conv2D (no bias) -> BatchNorm ->
    ReLU; the first block keeps the resolution, each later one halves it
    (stride 2). A global average pool gives the features. Not from the
    paper: a CPU-sized stand-in for ResNet-50.

    Args:
        input_shape: `(H, W, C)`.
        widths: channels of each block, a non-empty sequence of ints.
        name: model name.

    Returns:
        A functional `keras.Model`.
    """
    widths = tuple(int(w) for w in widths)
    if not widths or min(widths) <= 0:
        raise ValueError(
            f"`widths` must be a non-empty sequence of positive ints, got "
            f"{widths}."
        )
    inputs = keras.Input(shape=input_shape, name="images")
    x = inputs
    for i, width in enumerate(widths):
        x = layers.Conv2D(
            width,
            3,
            strides=1 if i == 0 else 2,
            padding="same",
            use_bias=False,
            kernel_initializer=keras.initializers.VarianceScaling(
                2.0, mode="fan_out", distribution="uniform"
            ),
            name=f"block{i}_conv",
        )(x)
        x = BatchNormalization(name=f"block{i}_bn")(x)
        x = layers.ReLU(name=f"block{i}_relu")(x)
    outputs = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.Model(inputs, outputs, name=name)

"""ResNet-18/34/50 (and any depth: `resnet_v1`) encoders (He et al. 2016), functional Keras.

Each returns a `keras.Model` from images `(B, H, W, C)` to globally
average-pooled features `(B, F)`, F = 512 * width (18/34) or 2048 * width
(50), with no classification head. Details follow the BYOL / SemPPL ResNet
torso (Grill et al. 2020, Haiku `ResNet` v1): bias-free convolutions,
BatchNorm with decay 0.9 and epsilon 1e-5, the stride of a bottleneck on
its 3x3 convolution ("ResNet v1.5"), the last BatchNorm of each bottleneck
initialised to zero. Unlike Haiku, a projection shortcut (1x1 conv + BN) is
used only where the shape changes (He et al. option B), which gives the
standard parameter counts (ResNet-50: 23.51M without the head).
"""

import keras
from keras import layers

from keras_semppl.layers.batch_norm import BatchNormalization

_STEMS = ("cifar", "imagenet")


def resnet18(
    input_shape=(None, None, 3),
    stem="cifar",
    width_multiplier=1,
    zero_init_residual=False,
    bn_momentum=0.9,
    bn_epsilon=1e-5,
    name="resnet18",
    data_format=None,
):
    """ResNet-18: BasicBlocks (2, 2, 2, 2); output `(B, 512 * width)`.

    Args:
        input_shape: `(H, W, C)`; spatial sizes may be None.
        stem: `"cifar"` (3x3 conv, stride 1, no max-pool; for 32 px
            images) or `"imagenet"` (7x7 conv stride 2, 3x3 max-pool stride 2).
        width_multiplier: positive int or float scaling every channel count.
        zero_init_residual: start the last BatchNorm gamma of each residual
            branch at 0, so every block starts as the identity (Goyal et al.
            2017).
        bn_momentum, bn_epsilon: BatchNorm settings (BYOL: 0.9, 1e-5).
        name: model name.
        data_format: layout of the activations inside the network,
            "channels_last" or "channels_first"; inputs are always (B, H, W, C)
            (a first Permute layer converts them for "channels_first"), and
            weights have the same shapes either way. None: `default_data_format()`.
    """
    return _resnet(
        "basic", (2, 2, 2, 2), input_shape, stem, width_multiplier,
        zero_init_residual, bn_momentum, bn_epsilon, name, data_format,
    )


def resnet34(
    input_shape=(None, None, 3),
    stem="cifar",
    width_multiplier=1,
    zero_init_residual=False,
    bn_momentum=0.9,
    bn_epsilon=1e-5,
    name="resnet34",
    data_format=None,
):
    """ResNet-34: BasicBlocks (3, 4, 6, 3); output `(B, 512 * width)`.

    Arguments as for `resnet18`.
    """
    return _resnet(
        "basic", (3, 4, 6, 3), input_shape, stem, width_multiplier,
        zero_init_residual, bn_momentum, bn_epsilon, name, data_format,
    )


def resnet50(
    input_shape=(None, None, 3),
    stem="imagenet",
    width_multiplier=1,
    zero_init_residual=True,
    bn_momentum=0.9,
    bn_epsilon=1e-5,
    name="resnet50",
    data_format=None,
):
    """ResNet-50: Bottlenecks (3, 4, 6, 3); output `(B, 2048 * width)`.

    Arguments as for `resnet18`; `zero_init_residual` defaults to True as in
    the Haiku ResNet used by BYOL and SemPPL.
    """
    return _resnet(
        "bottleneck", (3, 4, 6, 3), input_shape, stem, width_multiplier,
        zero_init_residual, bn_momentum, bn_epsilon, name, data_format,
    )


def default_data_format():
    """The internal layout the encoders use when none is given.

    "channels_first" on the torch backend: Keras' torch convolutions take
    NCHW, and NHWC activations are permuted around every convolution; inside
    SemPPL's ResNet-18 step NCHW was 17 % faster with identical losses
    (`benchmarks/NOTES.md`). Elsewhere Keras' `image_data_format()`
    ("channels_last" unless configured): NHWC is TensorFlow's CPU layout, and
    XLA chooses its own (NCHW measured 4 % slower on JAX).
    """
    if keras.backend.backend() == "torch":
        return "channels_first"
    return keras.config.image_data_format()


def resnet_v1(
    blocks_per_stage,
    block="bottleneck",
    input_shape=(None, None, 3),
    stem="imagenet",
    width_multiplier=1,
    projection="auto",
    preprocessing=None,
    zero_init_residual=False,
    bn_momentum=0.9,
    bn_epsilon=1e-5,
    name="resnet",
    data_format=None,
    kernel_initializer=None,
):
    """A ResNet v1 of any depth: four stages of `block`s; output `(B, F)`.

    ResNet-200 (the SemPPL release's largest encoder) is
    ``resnet_v1((3, 24, 36, 3))``, output `(B, 2048 * width)`.

    Args:
        blocks_per_stage: four block counts, e.g. (3, 4, 6, 3) for ResNet-50.
        block: "bottleneck" (1x1, strided 3x3, 1x1 to 4x channels) or
            "basic" (two 3x3).
        projection: "auto" projects the shortcut (1x1 conv + BN) only where
            the shape changes; "first" in the first block of every stage, as
            Haiku's ResNet in BYOL and SemPPL does (the same placement for
            bottleneck blocks; basic blocks differ in the first stage).
        preprocessing: None or a layer applied to the images first (e.g.
            `keras_semppl.layers.ImageNormalization`).
        kernel_initializer: None (He et al.'s fan-out scaling) or a Keras
            initializer for every convolution; "zeros" builds a model whose
            weights are about to be loaded several times faster (JAX compiles
            a random draw per kernel shape).
        Others as for `resnet18`.
    """
    if block not in ("bottleneck", "basic"):
        raise ValueError(f"`block` must be 'bottleneck' or 'basic', got {block!r}.")
    if len(tuple(blocks_per_stage)) != 4:
        raise ValueError(f"`blocks_per_stage` must have 4 counts, got {blocks_per_stage!r}.")
    return _resnet(
        block, tuple(blocks_per_stage), input_shape, stem, width_multiplier,
        zero_init_residual, bn_momentum, bn_epsilon, name, data_format,
        projection=projection, preprocessing=preprocessing,
        kernel_initializer=kernel_initializer,
    )


def _resnet(
    block, blocks_per_stage, input_shape, stem, width_multiplier,
    zero_init_residual, bn_momentum, bn_epsilon, name, data_format=None,
    projection="auto", preprocessing=None, kernel_initializer=None,
):
    if projection not in ("auto", "first"):
        raise ValueError(f"`projection` must be 'auto' or 'first', got {projection!r}.")
    if stem not in _STEMS:
        raise ValueError(f"`stem` must be one of {_STEMS}, got {stem!r}.")
    if not width_multiplier > 0:
        raise ValueError(
            f"`width_multiplier` must be > 0, got {width_multiplier}."
        )
    if len(input_shape) != 3:
        raise ValueError(
            f"`input_shape` must be (H, W, C), got {tuple(input_shape)}."
        )

    def width(channels):
        return max(1, int(round(channels * width_multiplier)))

    data_format = default_data_format() if data_format is None else data_format
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(
            "`data_format` must be 'channels_last', 'channels_first' or None, "
            f"got {data_format!r}."
        )
    bn = dict(momentum=bn_momentum, epsilon=bn_epsilon, data_format=data_format,
              kernel_initializer=kernel_initializer)
    inputs = keras.Input(shape=input_shape, name="images")
    x = inputs if preprocessing is None else preprocessing(inputs)
    if data_format == "channels_first":
        x = layers.Permute((3, 1, 2), name="to_channels_first")(x)
    if stem == "cifar":
        x = _conv_bn(x, width(64), 3, 1, "stem", bn)
    else:
        x = _conv_bn(x, width(64), 7, 2, "stem", bn)
        x = layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool",
                                data_format=data_format)(x)
    block_fn = _basic_block if block == "basic" else _bottleneck_block
    for stage, num_blocks in enumerate(blocks_per_stage):
        channels = width(64 * 2**stage)
        for i in range(num_blocks):
            stride = 2 if (stage > 0 and i == 0) else 1
            x = block_fn(
                x, channels, stride, f"stage{stage + 1}_block{i + 1}", bn,
                zero_init_residual, project=projection == "first" and i == 0,
            )
    outputs = layers.GlobalAveragePooling2D(name="avg_pool", data_format=data_format)(x)
    return keras.Model(inputs, outputs, name=name)


def _he_fan_out():
    # He et al. 2015 variance (2 / fan_out, as torchvision's ResNet), drawn
    # uniformly: JAX compiles a random draw per kernel shape, and the uniform
    # one compiles several times faster than (truncated) normal on CPU.
    return keras.initializers.VarianceScaling(
        2.0, mode="fan_out", distribution="uniform"
    )


def _channels(x, bn):
    return x.shape[1] if bn["data_format"] == "channels_first" else x.shape[-1]


def _conv_bn(x, filters, kernel, stride, name, bn, relu=True, zero_gamma=False):
    data_format = bn["data_format"]
    x = layers.Conv2D(
        filters,
        kernel,
        strides=stride,
        padding="same",
        use_bias=False,
        kernel_initializer=bn.get("kernel_initializer") or _he_fan_out(),
        data_format=data_format,
        name=f"{name}_conv",
    )(x)
    x = BatchNormalization(
        axis=1 if data_format == "channels_first" else -1,
        gamma_initializer="zeros" if zero_gamma else "ones",
        momentum=bn["momentum"],
        epsilon=bn["epsilon"],
        name=f"{name}_bn",
    )(x)
    if relu:
        x = layers.ReLU(name=f"{name}_relu")(x)
    return x


def _shortcut(x, out_channels, stride, name, bn, project=False):
    if not project and stride == 1 and _channels(x, bn) == out_channels:
        return x
    return _conv_bn(x, out_channels, 1, stride, f"{name}_proj", bn, relu=False)


def _basic_block(x, channels, stride, name, bn, zero_init, project=False):
    """Two 3x3 convs; out channels = `channels`."""
    shortcut = _shortcut(x, channels, stride, name, bn, project)
    y = _conv_bn(x, channels, 3, stride, f"{name}_1", bn)
    y = _conv_bn(y, channels, 3, 1, f"{name}_2", bn, relu=False,
                 zero_gamma=zero_init)
    y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.ReLU(name=f"{name}_out")(y)


def _bottleneck_block(x, channels, stride, name, bn, zero_init, project=False):
    """1x1 -> 3x3 (strided) -> 1x1 x4; out channels = `4 * channels`."""
    shortcut = _shortcut(x, 4 * channels, stride, name, bn, project)
    y = _conv_bn(x, channels, 1, 1, f"{name}_1", bn)
    y = _conv_bn(y, channels, 3, stride, f"{name}_2", bn)
    y = _conv_bn(y, 4 * channels, 1, 1, f"{name}_3", bn, relu=False,
                 zero_gamma=zero_init)
    y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.ReLU(name=f"{name}_out")(y)

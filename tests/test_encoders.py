"""Encoders: shapes, parameter counts vs torchvision's, the encoder check."""

import keras
import numpy as np
import pytest

from keras_semppl.encoders import check_encoder
from keras_semppl.encoders import encoder_output_dim
from keras_semppl.encoders import resnet18
from keras_semppl.encoders import resnet34
from keras_semppl.encoders import resnet50
from keras_semppl.encoders import small_convnet


def _trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


# Published torchvision counts minus the 1000-way fc head:
# resnet18 11,689,512 - 513,000; resnet34 21,797,672 - 513,000;
# resnet50 25,557,032 - 2,049,000. The CIFAR stem swaps the 7x7x3x64 stem
# conv (9,408) for a 3x3x3x64 one (1,728).
RESNET18_IMAGENET = 11_176_512
RESNET18_CIFAR = RESNET18_IMAGENET - 9_408 + 1_728  # 11,168,832
RESNET34_CIFAR = 21_284_672 - 9_408 + 1_728
RESNET50_IMAGENET = 23_508_032


@pytest.fixture(scope="module")
def r18():
    # channels_last spelled out: the shape checks below read NHWC activations.
    return resnet18(input_shape=(32, 32, 3), stem="cifar", data_format="channels_last")


@pytest.fixture(scope="module")
def r50():
    return resnet50(input_shape=(64, 64, 3), stem="imagenet")


def test_resnet18_cifar_shape_and_params(r18):
    assert _trainable(r18) == RESNET18_CIFAR
    assert tuple(r18.output.shape) == (None, 512)
    assert encoder_output_dim(r18) == 512
    # Stride 1 stem: the last stage sees 32 / 8 = 4 px.
    assert tuple(r18.get_layer("stage4_block2_out").output.shape) == (
        None, 4, 4, 512)


def test_resnet18_imagenet_stem_params_and_resolution():
    model = resnet18(input_shape=(64, 64, 3), stem="imagenet", data_format="channels_last")
    assert _trainable(model) == RESNET18_IMAGENET
    # 64 -> conv s2 -> 32 -> pool -> 16 -> stages /8 -> 2.
    assert tuple(model.get_layer("stage4_block2_out").output.shape) == (
        None, 2, 2, 512)


def test_resnet34_params():
    assert _trainable(resnet34(input_shape=(32, 32, 3))) == RESNET34_CIFAR


@pytest.mark.slow
def test_resnet50_imagenet_shape_and_params(r50):
    assert _trainable(r50) == RESNET50_IMAGENET
    out = r50(np.random.rand(2, 64, 64, 3).astype("float32"), training=False)
    assert tuple(out.shape) == (2, 2048)
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(out)))
    # Zero-initialised last BN gamma in every bottleneck (Haiku / BYOL).
    gamma = r50.get_layer("stage1_block1_3_bn").gamma
    assert np.all(keras.ops.convert_to_numpy(gamma) == 0)
    assert np.all(keras.ops.convert_to_numpy(
        r50.get_layer("stage1_block1_2_bn").gamma) == 1)


def test_width_multiplier_and_unknown_spatial_size(r18):
    model = resnet18(width_multiplier=0.5)  # input (None, None, 3)
    assert tuple(model.input.shape) == (None, None, None, 3)
    assert encoder_output_dim(model) == 256
    assert tuple(model.compute_output_shape((1, 24, 24, 3))) == (1, 256)
    # Every conv kernel shrinks 4x except the stem's (input channels fixed).
    def conv_params(m):
        convs = [w for w in m.trainable_weights if len(w.shape) == 4]
        return sum(int(np.prod(w.shape)) for w in convs[1:])
    assert conv_params(model) * 4 == conv_params(r18)


def test_small_convnet():
    model = small_convnet((16, 16, 3), widths=(8, 16))
    # Symbolic shapes only: ResNet-50 above runs the real forward pass.
    assert tuple(model.compute_output_shape((2, 16, 16, 3))) == (2, 16)
    # conv 3*3*3*8 + BN 2*8, conv 3*3*8*16 + BN 2*16.
    assert _trainable(model) == 216 + 16 + 1152 + 32
    assert tuple(model.get_layer("block1_relu").output.shape) == (None, 8, 8, 16)


def test_bad_arguments():
    with pytest.raises(ValueError, match="stem"):
        resnet18(stem="tiny")
    with pytest.raises(ValueError, match="width_multiplier"):
        resnet50(width_multiplier=0)
    with pytest.raises(ValueError, match="widths"):
        small_convnet((8, 8, 3), widths=())


def test_keras_applications_resnet50_passes_check():
    model = keras.applications.ResNet50(
        weights=None, include_top=False, pooling="avg", input_shape=(64, 64, 3))
    assert check_encoder(model) is model
    assert encoder_output_dim(model) == 2048


def test_unpooled_encoder_fails_with_clear_message():
    inputs = keras.Input((16, 16, 3))
    outputs = keras.layers.AveragePooling2D(2)(inputs)  # (B, 8, 8, 3)
    model = keras.Model(inputs, outputs, name="no_pool")
    with pytest.raises(ValueError, match=r"rank 4.*pooling='avg'"):
        check_encoder(model)
    with pytest.raises(ValueError, match="no_pool"):
        encoder_output_dim(model)


def test_multi_output_encoder_fails():
    inputs = keras.Input((8,))
    model = keras.Model(inputs, [keras.layers.Identity()(inputs),
                                 keras.layers.ReLU()(inputs)])
    with pytest.raises(ValueError, match="exactly one output"):
        check_encoder(model)


@pytest.mark.parametrize("stem", ["cifar", "imagenet"])
def test_channels_first_layout_computes_the_same_function(stem):
    """Same weights, NCHW inside vs NHWC inside: same features (the channels_first fast path)."""
    size = 16 if stem == "cifar" else 32
    last = resnet18((size, size, 3), stem=stem, width_multiplier=0.25,
                    data_format="channels_last")
    first = resnet18((size, size, 3), stem=stem, width_multiplier=0.25,
                     data_format="channels_first")
    assert [w.shape for w in last.weights] == [w.shape for w in first.weights]
    first.set_weights(last.get_weights())
    x = np.random.default_rng(0).random((8, size, size, 3)).astype("float32")
    # Training-mode BatchNorm over 8 examples at 1x1 (ImageNet stem, 32 px)
    # magnifies float round-off of the different summation orders.
    for training in (False, True):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(first(x, training=training)),
            keras.ops.convert_to_numpy(last(x, training=training)),
            rtol=2e-3, atol=1e-4,
        )
    # Compiled inference too (tf.function on TF, jit on JAX): a .keras file
    # saved on torch (NCHW inside) must run on the other backends.
    np.testing.assert_allclose(first.predict(x, verbose=0), last.predict(x, verbose=0),
                               rtol=2e-3, atol=1e-4)
    with pytest.raises(ValueError, match="data_format"):
        resnet18((8, 8, 3), data_format="NCHW")


def test_default_layout_is_the_backends_fast_one():
    from keras_semppl.encoders.resnet import default_data_format

    expected = "channels_first" if keras.backend.backend() == "torch" else "channels_last"
    assert default_data_format() == expected
    model = resnet18((8, 8, 3), width_multiplier=0.25)
    convs = [l for l in model.layers if isinstance(l, keras.layers.Conv2D)]
    assert {c.data_format for c in convs} == {expected}
    # Inputs stay (B, H, W, C) whatever the inside layout.
    assert tuple(model.inputs[0].shape[1:]) == (8, 8, 3)

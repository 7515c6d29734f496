"""`keras_semppl.layers.BatchNormalization`: Keras' layer, fused on torch and TF.

Checked against a NumPy version of the formula (not against the layer's
own output): in training, ``y = (x - mean) / sqrt(var + eps) * gamma + beta``
with the batch's mean and biased variance over every axis but the channel
axis, and ``moving = momentum * moving + (1 - momentum) * batch``; in
inference, the same with the moving statistics. Gradients are checked
end to end: one SGD step of a model with the fused layer moves every
weight as the same model with Keras' layer does.
"""

import keras
import numpy as np
import pytest
from keras import ops

from keras_semppl.layers import BatchNormalization
from tests.serialization import run_serialization_test

FUSED_BACKENDS = ("torch", "tensorflow")


def _reference(x, axis, gamma, beta, mean, var, eps):
    shape = [1] * x.ndim
    shape[axis] = -1
    r = lambda v: np.reshape(v, shape)  # noqa: E731
    return (x - r(mean)) / np.sqrt(r(var) + eps) * r(gamma) + r(beta)


def _batch_moments(x, axis):
    axes = tuple(a for a in range(x.ndim) if a != axis)
    return x.mean(axis=axes), x.var(axis=axes)  # biased, as Keras


def _layer(axis, shape, **kwargs):
    layer = BatchNormalization(axis=axis, **kwargs)
    layer.build(shape)
    c = shape[axis]
    rng = np.random.default_rng(1)
    if layer.scale:
        layer.gamma.assign(rng.uniform(0.5, 1.5, c).astype("float32"))
    if layer.center:
        layer.beta.assign(rng.normal(size=c).astype("float32"))
    layer.moving_mean.assign(rng.normal(size=c).astype("float32"))
    layer.moving_variance.assign(rng.uniform(0.5, 2.0, c).astype("float32"))
    return layer


def _uses_fused(layer, x):
    return layer._fused_kernel(ops.convert_to_tensor(x), None) is not None


CASES = [
    # (shape, axis): channels_first maps, channels_last maps, (B, F) features,
    # a rank-3 input with the channels in the middle.
    ((4, 3, 5, 6), 1),
    ((4, 5, 6, 3), -1),
    ((6, 7), -1),
    ((4, 3, 5), 1),
]


@pytest.mark.parametrize("shape,axis", CASES)
def test_training_and_inference_match_the_formula(shape, axis):
    rng = np.random.default_rng(0)
    # Uneven scales per channel and a small-variance channel, with eps 1e-5.
    x = (rng.normal(size=shape) * 3.0 + 2.0).astype("float32")
    x = np.moveaxis(x, axis, -1)
    x[..., 0] = x[..., 0] * 1e-3 + 5.0
    x = np.moveaxis(x, -1, axis)
    momentum, eps = 0.9, 1e-5
    layer = _layer(axis, shape, momentum=momentum, epsilon=eps)
    ax = axis % len(shape)
    fused_expected = keras.backend.backend() == "torch" or (
        keras.backend.backend() == "tensorflow" and ax == len(shape) - 1)
    assert _uses_fused(layer, x) == fused_expected

    gamma, beta = (ops.convert_to_numpy(v) for v in (layer.gamma, layer.beta))
    mm, mv = (ops.convert_to_numpy(v).copy() for v in (layer.moving_mean, layer.moving_variance))

    y = ops.convert_to_numpy(layer(x, training=True))
    mean, var = _batch_moments(x.astype("float64"), ax)
    # Keras' own computation (JAX, and TF for other axes) takes the variance
    # as E[x^2] - E[x]^2 in float32, which loses digits on the channel with
    # mean 5 and std 3e-3; the fused kernels do not.
    atol = 2e-4 if fused_expected else 2e-3
    np.testing.assert_allclose(y, _reference(x, ax, gamma, beta, mean, var, eps), atol=atol)
    np.testing.assert_allclose(ops.convert_to_numpy(layer.moving_mean),
                               momentum * mm + (1 - momentum) * mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(layer.moving_variance),
                               momentum * mv + (1 - momentum) * var, rtol=1e-4, atol=1e-7)

    mm, mv = (ops.convert_to_numpy(v).copy() for v in (layer.moving_mean, layer.moving_variance))
    y = ops.convert_to_numpy(layer(x, training=False))
    np.testing.assert_allclose(y, _reference(x, ax, gamma, beta, mm, mv, eps), rtol=1e-4, atol=1e-4)
    # Inference leaves the moving statistics alone.
    np.testing.assert_array_equal(ops.convert_to_numpy(layer.moving_mean), mm)


def test_without_scale_and_center_and_when_frozen():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(8, 4, 4, 3)).astype("float32")
    layer = _layer(-1, x.shape, center=False, scale=False, momentum=0.5, epsilon=1e-3)
    mean, var = _batch_moments(x.astype("float64"), 3)
    y = ops.convert_to_numpy(layer(x, training=True))
    np.testing.assert_allclose(y, _reference(x, 3, 1.0, 0.0, mean, var, 1e-3), atol=2e-4)
    # A frozen layer (trainable=False) normalises with its moving statistics
    # even in training, as Keras' layer does, and does not update them.
    layer.trainable = False
    mm, mv = (ops.convert_to_numpy(v).copy() for v in (layer.moving_mean, layer.moving_variance))
    y = ops.convert_to_numpy(layer(x, training=True))
    np.testing.assert_allclose(y, _reference(x, 3, 1.0, 0.0, mm, mv, 1e-3), rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(ops.convert_to_numpy(layer.moving_variance), mv)


def test_a_single_example_has_zero_batch_variance():
    # (1, F): Keras' biased variance is 0; TF's kernel returns an unbiased
    # variance that must not turn into a NaN moving statistic.
    x = np.arange(5, dtype="float32")[None]
    layer = _layer(-1, x.shape, momentum=0.5)
    mv = ops.convert_to_numpy(layer.moving_variance).copy()
    layer(x, training=True)
    np.testing.assert_allclose(ops.convert_to_numpy(layer.moving_variance), 0.5 * mv, rtol=1e-5)


@pytest.fixture
def restore_policy():
    before = keras.mixed_precision.global_policy().name
    yield
    keras.mixed_precision.set_global_policy(before)


@pytest.mark.parametrize("axis", [1, -1])
def test_bfloat16_inputs_keep_float32_statistics(axis, restore_policy):
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    rng = np.random.default_rng(3)
    shape = (8, 16, 6, 6) if axis == 1 else (8, 6, 6, 16)
    x = (rng.normal(size=shape) * 2.0 + 1.0).astype("float32")
    layer = _layer(axis, shape, momentum=0.9)
    assert layer.compute_dtype == "bfloat16"
    x16 = ops.cast(x, "bfloat16")
    mm = ops.convert_to_numpy(layer.moving_mean).copy()
    y = layer(x16, training=True)
    assert ops.dtype(y) == "bfloat16"
    assert layer.moving_mean.dtype == "float32" and layer.moving_variance.dtype == "float32"
    # The reference sees the bfloat16-rounded input, in float64.
    xr = ops.convert_to_numpy(ops.cast(x16, "float32")).astype("float64")
    ax = axis % 4
    mean, var = _batch_moments(xr, ax)
    gamma, beta = (ops.convert_to_numpy(v) for v in (layer.gamma, layer.beta))
    got = ops.convert_to_numpy(ops.cast(y, "float32"))
    # bfloat16 output: 8 mantissa bits, |y| up to ~5 -> rounding up to ~2e-2.
    np.testing.assert_allclose(got, _reference(xr, ax, gamma, beta, mean, var, 1e-3), atol=4e-2)
    np.testing.assert_allclose(ops.convert_to_numpy(layer.moving_mean),
                               0.9 * mm + 0.1 * mean, rtol=1e-4, atol=1e-5)


def _tiny_net(fused, axis):
    keras.utils.set_random_seed(4)
    inputs = keras.Input((6, 6, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    if axis == 1:
        x = keras.layers.Permute((3, 1, 2))(x)
    x = BatchNormalization(axis=axis, fused=fused, momentum=0.8)(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(5)(x)
    x = BatchNormalization(fused=fused)(x)
    return keras.Model(inputs, keras.layers.Dense(2)(x))


@pytest.mark.parametrize("axis", [1, -1])
def test_one_sgd_step_moves_every_weight_as_keras_layer_does(axis):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(16, 6, 6, 3)).astype("float32")
    y = rng.normal(size=(16, 2)).astype("float32")
    results = []
    for fused in (False, None):
        model = _tiny_net(fused, axis)
        model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
        before = [ops.convert_to_numpy(w).copy() for w in model.weights]
        model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
        after = [ops.convert_to_numpy(w) for w in model.weights]
        results.append([a - b for a, b in zip(after, before)])
    for keras_delta, fused_delta in zip(*results):
        assert np.abs(keras_delta).max() > 0  # every weight and statistic moved
        np.testing.assert_allclose(fused_delta, keras_delta, rtol=1e-3, atol=1e-5)


def test_fused_true_is_refused_where_no_kernel_applies():
    layer = BatchNormalization(axis=1, fused=True, synchronized=False, renorm=True)
    with pytest.raises(ValueError, match="fused=True.*renorm=True"):
        layer(np.ones((4, 3), "float32"), training=True)
    with pytest.raises(ValueError, match="fused must be None, True or False"):
        BatchNormalization(fused="yes")
    if keras.backend.backend() in FUSED_BACKENDS:
        # Where a kernel applies, fused=True takes it.
        layer = BatchNormalization(fused=True)
        assert _uses_fused(layer, np.ones((4, 3), "float32"))
    else:
        with pytest.raises(ValueError, match="no fused kernel applies on backend"):
            BatchNormalization(fused=True)(np.ones((4, 3), "float32"))


def test_config_round_trip_and_keras_files_load_into_it(tmp_path):
    run_serialization_test(BatchNormalization, dict(axis=1, momentum=0.9, epsilon=1e-5, fused=False))
    # The weights are Keras' own: a Keras BatchNormalization's weights load
    # into this layer unchanged, and the outputs agree.
    x = np.random.default_rng(6).normal(size=(4, 3)).astype("float32")
    theirs = keras.layers.BatchNormalization()
    theirs.build(x.shape)
    theirs.set_weights([np.full(3, v, "float32") for v in (1.5, 0.2, 0.3, 2.0)])
    ours = BatchNormalization()
    ours.build(x.shape)
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ops.convert_to_numpy(ours(x)), ops.convert_to_numpy(theirs(x)),
                               rtol=1e-5, atol=1e-6)

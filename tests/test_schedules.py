"""Schedules vs hand-written NumPy references (BYOL formulas)."""

import math

import keras
import numpy as np
import pytest
from keras import ops

from keras_semppl.schedules import WarmupCosineDecay
from keras_semppl.schedules import ema_momentum
from keras_semppl.schedules import scale_learning_rate
from keras_semppl.schedules import warmup_cosine_decay


def _np_warmup_cosine(step, peak, total, warmup, final):
    if step < warmup:
        return peak * step / warmup
    if step >= total:
        return final
    p = (step - warmup) / (total - warmup)
    return final + (peak - final) * 0.5 * (1 + math.cos(math.pi * p))


@pytest.mark.parametrize("warmup,final", [(0, 0.0), (10, 0.0), (10, 0.01)])
def test_warmup_cosine_matches_reference(warmup, final):
    sched = WarmupCosineDecay(0.8, total_steps=100, warmup_steps=warmup,
                              final_learning_rate=final)
    for step in [0, 1, 5, 9, 10, 11, 37, 50, 99, 100, 101, 500]:
        got = float(ops.convert_to_numpy(sched(step)))
        want = _np_warmup_cosine(step, 0.8, 100, warmup, final)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_warmup_cosine_landmarks():
    sched = WarmupCosineDecay(1.0, total_steps=110, warmup_steps=10)
    value = lambda s: float(ops.convert_to_numpy(sched(s)))
    assert value(0) == 0.0
    np.testing.assert_allclose(value(5), 0.5, rtol=1e-6)  # half-way warm-up
    np.testing.assert_allclose(value(10), 1.0, rtol=1e-6)  # peak
    np.testing.assert_allclose(value(60), 0.5, rtol=1e-5)  # cos(pi/2)
    np.testing.assert_allclose(value(110), 0.0, atol=1e-7)
    np.testing.assert_allclose(value(10_000), 0.0, atol=1e-7)


def test_warmup_cosine_accepts_integer_variable_step():
    sched = WarmupCosineDecay(1.0, total_steps=20, warmup_steps=4)
    step = keras.Variable(2, dtype="int64", trainable=False)
    np.testing.assert_allclose(ops.convert_to_numpy(sched(step)), 0.5, rtol=1e-6)


def test_warmup_cosine_drives_optimizer_learning_rate():
    sched = WarmupCosineDecay(0.4, total_steps=10, warmup_steps=4)
    opt = keras.optimizers.SGD(learning_rate=sched)
    var = keras.Variable(np.zeros((2,), "float32"))
    opt.build([var])
    for _ in range(3):
        opt.apply([ops.ones((2,))], [var])
    # steps 0, 1, 2 used lr 0, 0.1, 0.2 -> var = -(0 + 0.1 + 0.2)
    np.testing.assert_allclose(ops.convert_to_numpy(var), [-0.3, -0.3], rtol=1e-5)


def test_warmup_cosine_config_round_trip():
    sched = WarmupCosineDecay(0.3, total_steps=50, warmup_steps=5,
                              final_learning_rate=0.001)
    config = keras.saving.serialize_keras_object(sched)
    assert config["config"]["total_steps"] == 50
    restored = keras.saving.deserialize_keras_object(config)
    assert isinstance(restored, WarmupCosineDecay)
    assert restored.get_config() == sched.get_config()
    for step in [0, 3, 20, 60]:
        np.testing.assert_allclose(
            ops.convert_to_numpy(restored(step)),
            _np_warmup_cosine(step, 0.3, 50, 5, 0.001), rtol=1e-5, atol=1e-7,
        )


@pytest.mark.parametrize("warmup,final", [(0, 0.0), (10, 0.01), (60, 0.0)])
def test_warmup_cosine_is_keras_cosine_decay(warmup, final):
    """No hand-written formula: the schedule is Keras' CosineDecay with a warm-up,
    and the factory gives the same values as a plain (package-free) CosineDecay."""
    sched = WarmupCosineDecay(0.8, total_steps=100, warmup_steps=warmup,
                              final_learning_rate=final)
    plain = warmup_cosine_decay(0.8, total_steps=100, warmup_steps=warmup,
                                final_learning_rate=final)
    assert isinstance(sched, keras.optimizers.schedules.CosineDecay)
    assert type(plain) is keras.optimizers.schedules.CosineDecay
    for step in [0, 3, 10, 50, 99, 100, 250]:
        got = float(ops.convert_to_numpy(plain(step)))
        np.testing.assert_allclose(got, float(ops.convert_to_numpy(sched(step))), rtol=1e-6)
        np.testing.assert_allclose(got, _np_warmup_cosine(step, 0.8, 100, warmup, final),
                                   rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    "kwargs,arg",
    [
        (dict(peak_learning_rate=1.0, total_steps=10, warmup_steps=11),
         "warmup_steps"),
        (dict(peak_learning_rate=1.0, total_steps=0), "total_steps"),
        (dict(peak_learning_rate=1.0, total_steps=10, warmup_steps=-1),
         "warmup_steps"),
        (dict(peak_learning_rate=-1.0, total_steps=10), "peak_learning_rate"),
        (dict(peak_learning_rate=1.0, total_steps=10,
              final_learning_rate=-0.1), "final_learning_rate"),
    ],
)
def test_warmup_cosine_rejects_bad_arguments(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        WarmupCosineDecay(**kwargs)


def test_scale_learning_rate():
    assert scale_learning_rate(0.2, 4096) == pytest.approx(3.2)
    assert scale_learning_rate(0.3, 256) == pytest.approx(0.3)
    assert scale_learning_rate(1.0, 64) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="batch_size"):
        scale_learning_rate(0.2, 0)


def _np_ema(k, total, base):
    k = min(max(k, 0), total)
    return 1 - (1 - base) * (math.cos(math.pi * k / total) + 1) / 2


def test_ema_momentum_python_numbers():
    for k in [-5, 0, 1, 250, 500, 999, 1000, 2000]:
        got = float(ops.convert_to_numpy(ema_momentum(k, 1000, 0.996)))
        np.testing.assert_allclose(got, _np_ema(k, 1000, 0.996), rtol=1e-6)
    assert float(ops.convert_to_numpy(ema_momentum(0, 10, 0.99))) == (
        pytest.approx(0.99, abs=1e-7))
    assert float(ops.convert_to_numpy(ema_momentum(10, 10, 0.99))) == (
        pytest.approx(1.0, abs=1e-7))
    # Half-way: 1 - (1 - 0.99) / 2.
    assert float(ops.convert_to_numpy(ema_momentum(5, 10, 0.99))) == (
        pytest.approx(0.995, abs=1e-6))


def test_ema_momentum_tensor_steps():
    steps = np.array([0, 3, 7, 10, 12], dtype="int32")
    got = ops.convert_to_numpy(ema_momentum(ops.convert_to_tensor(steps), 10, 0.9))
    want = [_np_ema(int(k), 10, 0.9) for k in steps]
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert np.all(np.diff(got) >= 0)


def test_ema_momentum_rejects_bad_arguments():
    with pytest.raises(ValueError, match="total_steps"):
        ema_momentum(0, 0, 0.99)
    with pytest.raises(ValueError, match="base_momentum"):
        ema_momentum(0, 10, 1.5)

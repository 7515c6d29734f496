"""LARS vs an independent NumPy implementation of You et al. 2017 / BYOL."""

import copy

import keras
import numpy as np
import pytest
from keras import ops

from keras_semppl.optimizers import LARS
from keras_semppl.schedules import WarmupCosineDecay


def _np_lars(w, g, m, lr, momentum, wd, eta, nesterov, decay, adapt):
    """One LARS step in NumPy (float64); returns new (w, m)."""
    u = g + wd * w if decay else g.copy()
    if adapt:
        w_norm, u_norm = np.linalg.norm(w), np.linalg.norm(u)
        if w_norm > 0 and u_norm > 0:
            u = u * (eta * w_norm / u_norm)
    m = momentum * m + u
    step = momentum * m + u if nesterov else m
    return w - lr * step, m


def _run(opt, init, grads_per_step):
    variables = [keras.Variable(v, name=n) for n, v in init.items()]
    opt.build(variables)
    for grads in grads_per_step:
        opt.apply([ops.convert_to_tensor(g) for g in grads], variables)
    return [ops.convert_to_numpy(v) for v in variables]


@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("wd", [0.0, 0.01])
def test_matches_numpy_reference(nesterov, wd):
    rng = np.random.default_rng(0)
    init = {
        "kernel": rng.normal(size=(3, 3, 2, 4)).astype("float32"),
        "dense": rng.normal(size=(5, 3)).astype("float32"),
        "bias": rng.normal(size=(3,)).astype("float32"),
    }
    steps = [[rng.normal(size=v.shape).astype("float32") for v in init.values()]
             for _ in range(4)]
    lr, mom, eta = 0.5, 0.9, 0.02
    opt = LARS(learning_rate=lr, momentum=mom, weight_decay=wd, eta=eta,
               nesterov=nesterov)
    got = _run(opt, init, steps)

    ws = [v.astype("float64") for v in init.values()]
    ms = [np.zeros_like(w) for w in ws]
    ranks_excluded = [False, False, True]  # the bias has rank 1
    for grads in steps:
        for i, g in enumerate(grads):
            ws[i], ms[i] = _np_lars(
                ws[i], g.astype("float64"), ms[i], lr, mom, wd, eta, nesterov,
                decay=not ranks_excluded[i], adapt=not ranks_excluded[i])
    for a, b in zip(got, ws):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_trust_ratio_actually_rescales():
    # Guards against a reference that silently equals plain SGD.
    w = np.full((2, 2), 3.0, "float32")  # ||w|| = 6
    g = np.full((2, 2), 1.0, "float32")  # ||g|| = 2
    opt = LARS(learning_rate=1.0, momentum=0.0, eta=0.1)
    (got,) = _run(opt, {"w": w}, [[g]])
    # ratio = 0.1 * 6 / 2 = 0.3 -> w - 0.3 * g
    np.testing.assert_allclose(got, np.full((2, 2), 2.7), rtol=1e-6)


def test_excluded_variables_get_plain_momentum_sgd():
    rng = np.random.default_rng(1)
    bias = rng.normal(size=(6,)).astype("float32")
    grads = [rng.normal(size=(6,)).astype("float32") for _ in range(3)]
    opt = LARS(learning_rate=0.1, momentum=0.9, weight_decay=0.5, eta=1e-3)
    (got,) = _run(opt, {"bias": bias}, [[g] for g in grads])
    w, m = bias.astype("float64"), np.zeros(6)
    for g in grads:  # heavy ball, no decay, no rescaling
        m = 0.9 * m + g
        w = w - 0.1 * m
    np.testing.assert_allclose(got, w, rtol=1e-5, atol=1e-6)


def test_name_based_exclusion_and_rank1_flag():
    rng = np.random.default_rng(2)
    layer = keras.layers.Dense(3, name="head")
    layer.build((None, 4))
    layer.kernel.assign(rng.normal(size=(4, 3)).astype("float32"))
    layer.bias.assign(rng.normal(size=(3,)).astype("float32"))
    k0 = ops.convert_to_numpy(layer.kernel).astype("float64")
    b0 = ops.convert_to_numpy(layer.bias).astype("float64")
    gk = rng.normal(size=(4, 3)).astype("float32")
    gb = rng.normal(size=(3,)).astype("float32")
    # Rank-1 flag off: the bias is decayed and adapted; the kernel is
    # excluded by name from both (adaptation list defaults to decay list).
    opt = LARS(learning_rate=0.3, momentum=0.0, weight_decay=0.1, eta=0.05,
               exclude_from_weight_decay=["head/kernel"], exclude_rank1=False)
    assert not opt.uses_weight_decay(layer.kernel)
    assert not opt.uses_layer_adaptation(layer.kernel)
    assert opt.uses_weight_decay(layer.bias)
    assert opt.uses_layer_adaptation(layer.bias)
    opt.build([layer.kernel, layer.bias])
    opt.apply([gk, gb], [layer.kernel, layer.bias])
    want_k, _ = _np_lars(k0, gk, 0.0, 0.3, 0.0, 0.1, 0.05, False, False, False)
    want_b, _ = _np_lars(b0, gb, 0.0, 0.3, 0.0, 0.1, 0.05, False, True, True)
    np.testing.assert_allclose(ops.convert_to_numpy(layer.kernel), want_k,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(layer.bias), want_b,
                               rtol=1e-5, atol=1e-6)


def test_separate_adaptation_list():
    opt = LARS(exclude_from_weight_decay=["x"],
               exclude_from_layer_adaptation=["y"], weight_decay=0.1)
    vx = keras.Variable(np.ones((2, 2)), name="x")
    vy = keras.Variable(np.ones((2, 2)), name="y")
    assert not opt.uses_weight_decay(vx) and opt.uses_layer_adaptation(vx)
    assert opt.uses_weight_decay(vy) and not opt.uses_layer_adaptation(vy)


def test_zero_norms_leave_gradient_unscaled():
    opt = LARS(learning_rate=1.0, momentum=0.0, eta=1e-3)
    zero_w = np.zeros((2, 3), "float32")
    g = np.arange(6, dtype="float32").reshape(2, 3)
    w2 = np.ones((2, 3), "float32")
    got_a, got_b = _run(opt, {"a": zero_w, "b": w2},
                        [[g, np.zeros_like(g)]])
    np.testing.assert_allclose(got_a, -g)  # ||w|| = 0: ratio 1
    np.testing.assert_allclose(got_b, w2)  # ||g|| = 0: no NaN, no change
    assert np.all(np.isfinite(got_b))


def test_fit_matches_numpy_on_linear_regression():
    """Compiled `fit` (jit / graph / torch) follows the same formula."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(8, 4)).astype("float32")
    t = rng.normal(size=(8, 2)).astype("float32")
    inputs = keras.Input((4,))
    dense = keras.layers.Dense(2, name="lin")
    model = keras.Model(inputs, dense(inputs))
    w0 = rng.normal(size=(4, 2)).astype("float32")
    b0 = rng.normal(size=(2,)).astype("float32")
    dense.set_weights([w0, b0])
    lr, mom, wd, eta = 0.4, 0.9, 0.01, 0.05
    model.compile(optimizer=LARS(lr, mom, wd, eta), loss="mse",
                  jit_compile=keras.backend.backend() != "torch")
    model.fit(x, t, batch_size=8, epochs=3, shuffle=False, verbose=0)

    w, b = w0.astype("float64"), b0.astype("float64")
    mw, mb = np.zeros_like(w), np.zeros_like(b)
    for _ in range(3):
        err = x @ w + b - t
        gw = 2.0 * x.T @ err / err.size
        gb = 2.0 * err.sum(0) / err.size
        w, mw = _np_lars(w, gw, mw, lr, mom, wd, eta, False, True, True)
        b, mb = _np_lars(b, gb, mb, lr, mom, wd, eta, False, False, False)
    got_w, got_b = dense.get_weights()
    np.testing.assert_allclose(got_w, w, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got_b, b, rtol=1e-4, atol=1e-5)


def test_config_round_trip():
    opt = LARS(learning_rate=WarmupCosineDecay(1.0, 100, 10), momentum=0.8,
               weight_decay=1.5e-6, eta=2e-3, nesterov=True,
               exclude_from_weight_decay=["bn"],
               exclude_from_layer_adaptation=["bias"], exclude_rank1=False,
               clipnorm=1.0)
    config = opt.get_config()
    for key, value in dict(momentum=0.8, weight_decay=1.5e-6, eta=2e-3,
                           nesterov=True, exclude_from_weight_decay=["bn"],
                           exclude_from_layer_adaptation=["bias"],
                           exclude_rank1=False, clipnorm=1.0).items():
        assert config[key] == value, key
    # Keras's from_config deserialises the schedule in place: pass a copy.
    restored = LARS.from_config(copy.deepcopy(config))
    assert restored.get_config() == config
    assert restored.weight_decay is None  # Keras's decoupled decay stays off


def test_save_load_keeps_optimizer(tmp_path):
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(2)(keras.layers.Dense(3)(inputs))
    model = keras.Model(inputs, outputs)
    opt = LARS(learning_rate=WarmupCosineDecay(0.5, 20, 2), weight_decay=1e-4,
               eta=5e-3, nesterov=True, exclude_from_weight_decay=["dense_"])
    model.compile(optimizer=opt, loss="mse")
    rng = np.random.default_rng(4)
    model.fit(rng.normal(size=(4, 4)), rng.normal(size=(4, 2)), epochs=2,
              verbose=0)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded.optimizer, LARS)
    assert loaded.optimizer.get_config() == opt.get_config()
    assert isinstance(loaded.optimizer._learning_rate, WarmupCosineDecay)
    assert int(ops.convert_to_numpy(loaded.optimizer.iterations)) == 2
    for a, b in zip(loaded.optimizer.variables, opt.variables):
        np.testing.assert_allclose(ops.convert_to_numpy(a),
                                   ops.convert_to_numpy(b))


@pytest.mark.parametrize(
    "kwargs,arg",
    [(dict(momentum=1.0), "momentum"), (dict(eta=0.0), "eta"),
     (dict(weight_decay=-1.0), "weight_decay"),
     (dict(exclude_from_weight_decay=[1]), "exclude_from_weight_decay")],
)
def test_rejects_bad_arguments(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        LARS(**kwargs)

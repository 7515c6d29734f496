"""JAX `keras.distribution.DataParallel` on 4 simulated host devices.

The check runs in a subprocess, because XLA_FLAGS must be set before jax is
imported. There, one `fit` without a distribution and one under
`DataParallel(devices=4)` start from the same seed and see the same global
batches; losses, weights, the target, the queue (contents, labels, ids,
pointer) and BatchNorm statistics must agree. Then the distributed model is
saved and reloaded without a distribution, bit for bit, and trains on.

Run directly: ``KERAS_BACKEND=jax python tests/test_distributed_jax.py``
(with XLA_FLAGS=--xla_force_host_platform_device_count=4).
"""

import json
import os
import subprocess
import sys

import keras
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEVICES = 4
RTOL, ATOL = 1e-4, 1e-5  # float32 reduction order differs across shards


@pytest.mark.backend("jax", reason="the JAX DataParallel engine (in its own jax subprocess)")
@pytest.mark.integration
@pytest.mark.slow
def test_data_parallel_equals_single_device():
    env = dict(
        os.environ,
        KERAS_BACKEND="jax",
        XLA_FLAGS=f"--xla_force_host_platform_device_count={DEVICES}",
        PYTHONPATH=ROOT,
        TF_CPP_MIN_LOG_LEVEL="2",
    )
    proc = subprocess.run(
        [sys.executable, os.path.abspath(__file__)], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    print(report)
    assert report["devices"] == DEVICES


# --------------------------------------------------------------- subprocess
def _main():
    import tempfile

    import numpy as np
    from keras import ops

    from keras_semppl.distribute import resolve_distribution
    from tests.toy_data import tiny_model, toy_batch_dict

    assert len(keras.distribution.list_devices()) == DEVICES, keras.distribution.list_devices()

    class StepLosses(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.rows = []

        def on_train_batch_end(self, batch, logs=None):
            self.rows.append([float(logs[k]) for k in ("loss", "l_augm", "l_sempos", "i_augm")])

    data = toy_batch_dict(n=64)

    def run(plan):
        keras.utils.set_random_seed(0)
        with plan.scope():
            model = tiny_model(target_decay_steps=20)
            # SGD, not Adam: some gradients are exactly zero in exact arithmetic
            # (a bias followed by BatchNorm) and Adam would blow their float
            # noise, which differs with the reduction order, up to +-lr.
            model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
            cb = StepLosses()
            model.fit(data, batch_size=32, epochs=2, shuffle=False, verbose=0, callbacks=[cb])
        return model, np.array(cb.rows)

    def state(model):
        return {v.path: np.array(ops.convert_to_numpy(v.value)) for v in model.variables
                if "seed" not in v.path}

    single, single_losses = run(resolve_distribution("none"))
    plan = resolve_distribution("auto")
    assert plan.name == "data_parallel" and plan.num_replicas == DEVICES, plan
    dist, dist_losses = run(plan)
    # The batch really was sharded over the devices.
    assert len(dist.encoder.weights[0].value.sharding.device_set) == DEVICES

    report = {"devices": DEVICES, "steps": len(single_losses)}
    np.testing.assert_allclose(dist_losses, single_losses, rtol=RTOL, atol=ATOL)
    report["max_loss_diff"] = float(np.max(np.abs(dist_losses - single_losses)))
    a, b = state(single), state(dist)
    assert a.keys() == b.keys()
    worst = 0.0
    for path in a:
        if a[path].dtype.kind in "iu":  # queue labels, ids, pointer, counters
            np.testing.assert_array_equal(b[path], a[path], err_msg=path)
        else:
            np.testing.assert_allclose(b[path], a[path], rtol=RTOL, atol=ATOL, err_msg=path)
            worst = max(worst, float(np.max(np.abs(b[path] - a[path]))))
    report["max_variable_diff"] = worst
    q = dist.queue
    report["queue_pointer"] = int(ops.convert_to_numpy(q.pointer.value))
    report["queue_filled"] = int((ops.convert_to_numpy(q.labels.value) >= 0).sum())
    assert report["queue_pointer"] == (2 * 22) % 48  # 22 labelled per epoch of 64, 2 epochs

    # Save under DataParallel, reload without a distribution: bit-exact, trains on.
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "dp.keras")
        dist.save(path)
        keras.distribution.set_distribution(None)
        loaded = keras.models.load_model(path)
    c = state(loaded)
    for path_ in b:
        np.testing.assert_array_equal(c[path_], b[path_], err_msg=path_)
    x = data["large_views"][0][:8]
    np.testing.assert_allclose(ops.convert_to_numpy(loaded(x)), ops.convert_to_numpy(dist(x)),
                               rtol=1e-5, atol=1e-6)
    print(json.dumps(report))


if __name__ == "__main__":
    _main()

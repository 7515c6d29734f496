"""TensorFlow `tf.distribute.MirroredStrategy` over 2 logical CPUs.

Runs in a subprocess, because logical devices must be configured before
TensorFlow initialises. There, one `fit` without a strategy and one under
`MirroredStrategy` (per-replica batches of B / 2) start from the same seed
and see the same global batches. The trainer all-gathers the target
projections, labels and ids, draws negatives and semantic positives for the
global batch and keeps its replica's rows, and writes the gathered labelled
examples to the queue; BatchNorm is synchronised (heads: `sync_batch_norm`,
encoder: `synchronized=True`). So losses, weights and the queue must agree
with the single-device run. The per-replica copies of the queue must be
identical, and a control run with the all-gather switched off must *fail*
the queue comparison (the test has teeth). Finally the distributed model is
saved, reloaded without a strategy, bit for bit, and trains on.

Run directly: ``KERAS_BACKEND=tensorflow python tests/test_distributed_tensorflow.py``.
"""

import json
import os
import subprocess
import sys

import keras
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPLICAS = 2
RTOL, ATOL = 1e-4, 1e-5


@pytest.mark.backend("tensorflow", reason="the MirroredStrategy engine (in its own TF subprocess)")
@pytest.mark.integration
@pytest.mark.slow
def test_mirrored_strategy_equals_single_device():
    env = dict(os.environ, KERAS_BACKEND="tensorflow", PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(
        [sys.executable, os.path.abspath(__file__)], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    print(report)
    assert report["replicas"] == REPLICAS


# --------------------------------------------------------------- subprocess
def _main():
    import contextlib
    import tempfile
    from unittest import mock

    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * REPLICAS
    )
    from keras import ops

    from keras_semppl.distribute import replicas
    from keras_semppl.distribute import resolve_distribution
    from tests.toy_data import tiny_model, toy_batch_dict

    data = toy_batch_dict(n=64)
    dataset = tf.data.Dataset.from_tensor_slices(data).batch(32, drop_remainder=True)

    class StepLosses(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.rows = []

        def on_train_batch_end(self, batch, logs=None):
            self.rows.append([float(logs[k]) for k in ("loss", "l_augm", "l_sempos", "i_augm")])

    def build():
        model = tiny_model(target_decay_steps=20)
        for layer in model.encoder.layers + model.target_encoder.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.synchronized = True
        # SGD, not Adam: a bias followed by BatchNorm has an exactly-zero
        # gradient whose float noise Adam would blow up to +-lr.
        model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
        return model

    def run(plan, gather=True):
        keras.utils.set_random_seed(0)
        # Control: without the replica helpers, the bug this test must catch.
        helpers = contextlib.ExitStack()
        if not gather:
            helpers.enter_context(mock.patch.object(replicas, "all_gather", lambda x, axis=0: x))
            helpers.enter_context(mock.patch.object(replicas, "this_replica_rows", lambda x: x))
        with helpers, plan.scope():
            model = build()
            cb = StepLosses()
            model.fit(dataset, epochs=2, verbose=0, callbacks=[cb])
        return model, np.array(cb.rows)

    def state(model):
        return {v.path: np.array(ops.convert_to_numpy(v.value)) for v in model.variables
                if "seed" not in v.path}

    single, single_losses = run(resolve_distribution("none"))
    plan = resolve_distribution("mirrored")
    assert plan.num_replicas == REPLICAS, plan
    dist, dist_losses = run(plan)
    strategy = plan.engine

    report = {"replicas": REPLICAS, "steps": len(single_losses)}
    np.testing.assert_allclose(dist_losses, single_losses, rtol=RTOL, atol=ATOL)
    report["max_loss_diff"] = float(np.max(np.abs(dist_losses - single_losses)))
    a, b = state(single), state(dist)
    assert a.keys() == b.keys()
    worst = 0.0
    for path in a:
        if a[path].dtype.kind in "iu":
            np.testing.assert_array_equal(b[path], a[path], err_msg=path)
        else:
            np.testing.assert_allclose(b[path], a[path], rtol=RTOL, atol=ATOL, err_msg=path)
            worst = max(worst, float(np.max(np.abs(b[path] - a[path]))))
    report["max_variable_diff"] = worst

    # Every replica's copy of the queue is the same (no silent divergence).
    for var in (dist.queue.embeddings, dist.queue.labels, dist.queue.ids, dist.queue.pointer):
        copies = [np.array(t) for t in strategy.experimental_local_results(var.value)]
        assert len(copies) == REPLICAS, var.path
        for c in copies[1:]:
            np.testing.assert_array_equal(c, copies[0], err_msg=var.path)
    report["queue_pointer"] = int(ops.convert_to_numpy(dist.queue.pointer.value))
    assert report["queue_pointer"] == (2 * 22) % 48

    # Control: without the all-gather the queue no longer matches one device.
    broken, _ = run(plan, gather=False)
    broken_ids = ops.convert_to_numpy(broken.queue.ids.value)
    assert not np.array_equal(broken_ids, a["queue/ids"]), "control run did not diverge"
    report["control_pointer_without_gather"] = int(ops.convert_to_numpy(broken.queue.pointer.value))

    # Save under the strategy, reload without one: bit-exact, and it trains on.
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "mirrored.keras")
        dist.save(path)
        loaded = keras.models.load_model(path)
    assert not isinstance(loaded.distribute_strategy, tf.distribute.MirroredStrategy)
    c = state(loaded)
    for path_ in b:
        np.testing.assert_array_equal(c[path_], b[path_], err_msg=path_)
    history = loaded.fit(dataset.take(1), epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0])
    print(json.dumps(report))


if __name__ == "__main__":
    _main()

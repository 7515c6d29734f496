"""`semppl train --distribute multi_worker`: two TensorFlow workers from the command line.

One scenario, three checks on the same runs (CI time is tight):

1. A job of two workers on localhost (TF_CONFIG each) starts from scratch
   with ``--checkpoint-dir``; once the chief has written the step-2
   checkpoint, worker 1 is killed. Worker 0 must fail by itself (no
   launcher), with a one-line error, within ``KILL_BOUND`` seconds.
2. The same two commands, rerun (through `keras_semppl.distribute.launch`
   with ``tf_workers=True``), resume from the latest checkpoint and finish
   steps 3 and 4. Only the chief's files exist; worker 1's temporary folder
   is gone.
3. The result equals one process without a strategy (same flags, global
   batch 64, same seed), run meanwhile: weights, queue and EMA target within
   rtol 1e-3 / atol 1e-3 (AdamW amplifies float32 reduction-order noise on
   near-zero gradients, as in tests/test_distributed_jax_processes.py);
   the optimizer's moments within atol 1e-2 (the first conv block's differ
   by 0.5% of their largest entry after 2 steps, deeper layers' by 5e-6;
   presumably the float32 reduction order of a gradient summed over 8192
   positions that nearly cancel under the BatchNorm after it); queue labels,
   ids, pointer and the step counter exactly equal.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.saved_state import saved_state

from keras_semppl.distribute.launch import JobFailed
from keras_semppl.distribute.launch import free_port
from keras_semppl.distribute.launch import launch
from keras_semppl.distribute.launch import tf_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RTOL, ATOL = 1e-3, 1e-3
OPTIMIZER_ATOL = 1e-2
KILL_BOUND = 60  # seconds from the kill to worker 0's exit
TRAIN = ["-m", "keras_semppl.cli.main", "train", "--epochs", "2", "--steps-per-epoch", "2",
         "--batch-size", "64", "--labelled-per-batch", "16", "--image-size", "8",
         "--queue-size", "128", "--hidden-dim", "32", "--projection-dim", "16",
         "--no-baseline", "--no-classical", "--verbose", "0", "--precision", "fp32"]


def _env(**extra):
    env = dict(os.environ, KERAS_BACKEND="tensorflow", PYTHONPATH=ROOT,
               TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_CONFIG", None)
    return dict(env, **extra)


def _temporary_folder(path):
    """TMPDIR for a job: its workers' temporary folders land under ``path``."""
    path.mkdir()
    return str(path)


def _kill_worker_1_after_step_2(tmp_path, job, ckpt):
    """Starts both workers, kills worker 1 once the step-2 checkpoint exists;
    returns (seconds from the kill to worker 0's exit, worker 0's exit code)."""
    ports = [free_port(), free_port()]
    procs, logs = [], []
    # A SIGKILLed worker leaves its temporary folder: here, inside tmp_path.
    tmpdir = _temporary_folder(tmp_path / "tmp_killed")
    try:
        for index in range(2):
            logs.append(open(tmp_path / f"killed{index}.log", "w"))
            procs.append(subprocess.Popen(
                [sys.executable, *job], cwd=ROOT,
                env=_env(TF_CONFIG=tf_config(ports, index), TMPDIR=tmpdir),
                stdout=logs[-1], stderr=subprocess.STDOUT, start_new_session=True))
        deadline = time.monotonic() + 240
        while not (ckpt / "ckpt-00000002.keras").exists():
            assert time.monotonic() < deadline and procs[0].poll() is None, (
                "no step-2 checkpoint:\n" + (tmp_path / "killed0.log").read_text()[-3000:])
            time.sleep(0.1)
        os.killpg(procs[1].pid, signal.SIGKILL)
        killed = time.monotonic()
        try:
            code = procs[0].wait(KILL_BOUND)
        except subprocess.TimeoutExpired:
            code = None
        return time.monotonic() - killed, code
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for f in logs:
            f.close()


@pytest.mark.backend("tensorflow", reason="MultiWorkerMirroredStrategy (in TF subprocesses)")
@pytest.mark.integration
@pytest.mark.slow
def test_killed_worker_fails_and_the_rerun_resumes_equal_to_one_process(tmp_path):
    start = time.monotonic()
    single = subprocess.Popen(
        [sys.executable, *TRAIN, "--output", str(tmp_path / "single.keras"),
         "--checkpoint-dir", str(tmp_path / "single_ckpt")], cwd=ROOT,  # (seeds each epoch)
        env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ckpt, out = tmp_path / "ckpt", tmp_path / "out"
    job = [*TRAIN, "--distribute", "multi_worker", "--checkpoint-dir", str(ckpt),
           "--output", str(out / "job.keras"), "--plots", str(out / "plots"),
           "--report-json", str(out / "report.json")]

    # 1. Kill worker 1 mid-run: worker 0 fails by itself, with a clear error.
    seconds, code = _kill_worker_1_after_step_2(tmp_path, job, ckpt)
    killed_log = (tmp_path / "killed0.log").read_text()
    assert code not in (None, 0), f"worker 0 did not fail within {KILL_BOUND} s"
    assert "a worker of the TensorFlow job was lost" in killed_log, killed_log[-3000:]
    assert not out.exists() or not (out / "job.keras").exists()
    kill_seconds = seconds

    # 2. Rerun the same commands: they resume from the latest checkpoint.
    logs = [open(tmp_path / f"worker{i}.log", "w") for i in range(2)]
    try:
        launch([sys.executable, *job], num_processes=2, timeout=300,
               env=_env(TMPDIR=_temporary_folder(tmp_path / "tmp_rerun")),
               stdout=lambda i: logs[i], tf_workers=True)
    except JobFailed as error:
        raise AssertionError(f"{error}\n" + "\n".join(
            (tmp_path / f"worker{i}.log").read_text()[-3000:] for i in range(2))) from None
    finally:
        for f in logs:
            f.close()
    texts = [(tmp_path / f"worker{i}.log").read_text() for i in range(2)]
    for i, text in enumerate(texts):
        assert f"worker {i} of 2" in text, text[-3000:]
        assert "CollectiveAllReduceStrategy with 2 replicas" in text, text[-3000:]
        assert f"resuming from {ckpt}/ckpt-00000002.keras" in text, text[-3000:]
    assert "writes into" not in texts[0]
    scratch = re.search(r"process 1 writes into (\S+)", texts[1]).group(1)
    assert scratch.startswith(str(tmp_path / "tmp_rerun"))
    left = [n for n in os.listdir(tmp_path / "tmp_rerun") if n.startswith("semppl-")]
    assert not left, f"worker 1 left its temporary folders behind: {left}"
    # Saved once: the chief's files only.
    assert sorted(os.listdir(ckpt)) == ["ckpt-00000002.keras", "ckpt-00000004.keras",
                                        "run.json"]
    assert sorted(os.listdir(out)) == ["job.history.json", "job.keras", "plots", "report.json"]
    assert json.loads((out / "report.json").read_text())["saved"] == str(out / "job.keras")

    # 3. Equal to one process.
    single_out, _ = single.communicate(timeout=300)
    assert single.returncode == 0, single_out[-3000:]
    assert "distribution: single device" in single_out
    a, b = saved_state(tmp_path / "single.keras"), saved_state(out / "job.keras")
    assert a.keys() == b.keys(), sorted(set(a) ^ set(b))
    worst = {}
    for path in a:
        if a[path].dtype.kind in "iub":  # queue labels, ids, pointer; step counters
            np.testing.assert_array_equal(b[path], a[path], err_msg=path)
        else:
            optimizer = path.startswith("optimizer/")
            np.testing.assert_allclose(b[path], a[path], rtol=0 if optimizer else RTOL,
                                       atol=OPTIMIZER_ATOL if optimizer else ATOL,
                                       err_msg=path)
            worst[path] = float(np.max(np.abs(b[path] - a[path]), initial=0.0))
    assert int(b["optimizer/adam_w/iteration"]) == 4
    assert (a["queue/labels"] >= 0).sum() == 64  # 16 labelled rows x 4 steps
    model = {k: v for k, v in worst.items() if not k.startswith("optimizer/")}
    print(json.dumps({"max_abs_diff": max(model.values()),
                      "worst": max(model, key=model.get),
                      "optimizer_max_abs_diff": max(worst.values()),
                      "queue_embeddings_max_abs_diff": worst["queue/embeddings"],
                      "kill_to_exit_seconds": round(kill_seconds, 1),
                      "seconds": round(time.monotonic() - start, 1)}))


@pytest.mark.backend_free
@pytest.mark.parametrize("config, message", [
    (None, "needs TF_CONFIG"),
    ("{", "TF_CONFIG is not valid JSON"),
    ('{"cluster": {"worker": []}, "task": {"type": "worker", "index": 0}}',
     'must list "worker" addresses'),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}',
     r'"task" must be \{"type": "worker", "index": I\} with I in \[0, 2\)'),
])
def test_tf_config_is_checked(config, message):
    from keras_semppl.cli.train_workers import tf_config_workers

    with pytest.raises(SystemExit, match=message):
        tf_config_workers(config)


@pytest.mark.backend_free
def test_tf_config_places_the_chief_first():
    from keras_semppl.cli.train_workers import tf_config_workers

    workers = {"worker": ["a:1", "b:2"]}
    assert tf_config_workers(tf_config([1, 2], 1)) == (1, 2)
    both = {"cluster": {"chief": ["c:0"], **workers}}
    assert tf_config_workers(json.dumps({**both, "task": {"type": "chief", "index": 0}})) \
        == (0, 3)
    assert tf_config_workers(json.dumps({**both, "task": {"type": "worker", "index": 0}})) \
        == (1, 3)


@pytest.mark.backend_free
def test_batch_must_divide_over_the_workers(monkeypatch):
    import argparse

    from keras_semppl.cli import train_plan
    from keras_semppl.cli import train_processes

    parser = argparse.ArgumentParser()
    train_plan.add_arguments(parser)
    plan = train_plan.resolve_plan(parser.parse_args(
        ["--distribute", "multi_worker", "--batch-size", "63", "--labelled-per-batch", "16"]))
    monkeypatch.setenv("TF_CONFIG", tf_config([1, 2], 0))
    with pytest.raises(SystemExit, match="--batch-size 63 must be a multiple of the 2 "
                                         "workers of TF_CONFIG"):
        train_processes.join_job(plan)


@pytest.mark.backend_free
def test_launcher_gives_each_tf_worker_its_tf_config(tmp_path):
    script = ("import os, sys, json; c = json.loads(os.environ['TF_CONFIG']); "
              "open(os.path.join(sys.argv[1], str(c['task']['index'])), 'w')"
              ".write(json.dumps(c)); assert 'KERAS_DISTRIBUTION_PROCESS_ID' not in os.environ")
    launch([sys.executable, "-c", script, str(tmp_path)], num_processes=3, timeout=60,
           tf_workers=True)
    configs = [json.loads((tmp_path / str(i)).read_text()) for i in range(3)]
    assert [c["task"] for c in configs] == [{"type": "worker", "index": i} for i in range(3)]
    workers = configs[0]["cluster"]["worker"]
    assert len(set(workers)) == 3 and all(c["cluster"]["worker"] == workers for c in configs)
    with pytest.raises(ValueError, match="devices_per_process and port are for JAX jobs"):
        launch([sys.executable, "-c", "pass"], 2, devices_per_process=2, tf_workers=True)


@pytest.mark.backend_free
def test_lost_worker_errors_become_one_line():
    from keras_semppl.distribute.tf_multi_worker import lost_worker_message

    UnavailableError = type("UnavailableError", (Exception,), {})
    error = UnavailableError("Graph execution error:\n\n{{function_node x}} Collective ops "
                             "is aborted by: Socket closed\nmore")
    message = lost_worker_message(error)
    assert "\n" not in message
    assert "UnavailableError: Collective ops is aborted by: Socket closed" in message
    assert "Restart every worker's command" in message
    assert lost_worker_message(ValueError("Collective ops is aborted")) is None


@pytest.mark.backend_free
def test_synchronized_batch_norm_is_not_saved():
    import keras

    from keras_semppl.callbacks import SynchronizedBatchNorm
    from keras_semppl.layers.batch_norm import BatchNormalization

    inputs = keras.Input((4,))
    model = keras.Model(inputs, BatchNormalization()(keras.layers.Dense(3)(inputs)))
    SynchronizedBatchNorm().set_model(model)
    norm = model.layers[-1]
    assert norm.sync_replicas and not norm.synchronized
    assert "sync_replicas" not in norm.get_config()
    assert not BatchNormalization.from_config(norm.get_config()).sync_replicas

"""A JAX job of 2 processes x 2 simulated devices, against one process with 4.

`semppl train` (digits, tiny model, 2 epochs of 2 steps, global batch 64)
runs first in one process over 4 simulated CPU devices, writing a checkpoint
at every epoch end. Its step-2 checkpoint is then resumed by a job of two
processes (started by `keras_semppl.distribute.launch`, 2 devices each, one
4-device mesh), which trains steps 3 and 4 with each process reading half of
every global batch. Both runs must end with the same weights, optimizer
state and queue; only process 0 writes the run's files. The launcher must
fail a job whose worker is killed, within a timeout, and stop the others.
"""

import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.saved_state import saved_state

from keras_semppl.distribute.launch import JobFailed
from keras_semppl.distribute.launch import launch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Float variables: AdamW divides by sqrt(v), which blows float32 noise of the
# (different) reduction order up on near-zero gradients; measured max 1.2e-4.
RTOL, ATOL = 1e-3, 1e-3
TRAIN = ["-m", "keras_semppl.cli.main", "train", "--epochs", "2", "--steps-per-epoch", "2",
         "--batch-size", "64", "--labelled-per-batch", "16", "--image-size", "8",
         "--queue-size", "128", "--hidden-dim", "32", "--projection-dim", "16",
         "--no-baseline", "--no-classical", "--verbose", "0", "--precision", "fp32",
         "--distribute", "data_parallel"]


def _env(devices=None):
    env = dict(os.environ, KERAS_BACKEND="jax", PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2",
               JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)
    if devices:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    return env


@pytest.mark.backend("jax", reason="a JAX multi-process job (in its own jax subprocesses)")
@pytest.mark.integration
@pytest.mark.slow
def test_two_processes_resume_and_equal_one_process(tmp_path):
    start = time.monotonic()
    single_dir = tmp_path / "single_ckpt"
    single = subprocess.run(
        [sys.executable, *TRAIN, "--output", str(tmp_path / "single.keras"),
         "--checkpoint-dir", str(single_dir)],
        cwd=ROOT, env=_env(4), capture_output=True, text=True, timeout=300)
    assert single.returncode == 0, single.stdout[-3000:] + single.stderr[-3000:]
    assert "keras.distribution.DataParallel over 4 devices" in single.stdout

    # The job resumes from the one-process run's step-2 checkpoint.
    job_dir = tmp_path / "job_ckpt"
    job_dir.mkdir()
    for name in ("ckpt-00000002.keras", "run.json"):
        shutil.copy(single_dir / name, job_dir / name)
    out = tmp_path / "out"
    logs = [open(tmp_path / f"process{i}.log", "w") for i in range(2)]
    try:
        launch([sys.executable, *TRAIN, "--output", str(out / "job.keras"),
                "--checkpoint-dir", str(job_dir), "--plots", str(out / "plots"),
                "--report-json", str(out / "report.json")],
               num_processes=2, devices_per_process=2, timeout=300, env=_env(),
               stdout=lambda i: logs[i])
    except JobFailed as error:
        raise AssertionError(f"{error}\n" + "\n".join(
            (tmp_path / f"process{i}.log").read_text()[-3000:] for i in range(2))) from None
    finally:
        for f in logs:
            f.close()
    texts = [(tmp_path / f"process{i}.log").read_text() for i in range(2)]
    for i, text in enumerate(texts):
        assert f"process {i} of 2" in text, text[-3000:]
        assert "DataParallel over 4 devices" in text, text[-3000:]
        assert f"resuming from {job_dir}/ckpt-00000002.keras" in text, text[-3000:]
    assert "writes into" in texts[1] and "writes into" not in texts[0]

    # Saved once: process 0 wrote the run's files, nothing came from process 1.
    assert sorted(os.listdir(job_dir)) == ["ckpt-00000002.keras", "ckpt-00000004.keras",
                                           "run.json"]
    assert sorted(os.listdir(out)) == ["job.history.json", "job.keras", "plots", "report.json"]
    assert json.loads((out / "report.json").read_text())["saved"] == str(out / "job.keras")

    a, b = saved_state(tmp_path / "single.keras"), saved_state(out / "job.keras")
    assert a.keys() == b.keys(), sorted(set(a) ^ set(b))
    worst = {}
    for path in a:
        if a[path].dtype.kind in "iub":  # queue labels, ids, pointer; step counters
            np.testing.assert_array_equal(b[path], a[path], err_msg=path)
        else:
            np.testing.assert_allclose(b[path], a[path], rtol=RTOL, atol=ATOL, err_msg=path)
            worst[path] = float(np.max(np.abs(b[path] - a[path]), initial=0.0))
    assert int(b["optimizer/adam_w/iteration"]) == 4
    # The queue holds labelled digits (the labelled-per-batch rows of 4 steps).
    assert (a["queue/labels"] >= 0).sum() > 0
    print(json.dumps({"max_abs_diff": max(worst.values()),
                      "queue_embeddings_max_abs_diff": worst["queue/embeddings"],
                      "seconds": round(time.monotonic() - start, 1)}))


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.backend_free
@pytest.mark.integration
def test_killed_worker_fails_the_job_and_stops_the_others(tmp_path):
    # Process 0 waits as a worker stuck in a collective would; process 1 is killed.
    script = ("import os, signal, time\n"
              f"open(os.path.join({str(tmp_path)!r}, 'pid' + "
              "os.environ['KERAS_DISTRIBUTION_PROCESS_ID']), 'w').write(str(os.getpid()))\n"
              "if os.environ['KERAS_DISTRIBUTION_PROCESS_ID'] == '1':\n"
              "    time.sleep(0.5); os.kill(os.getpid(), signal.SIGKILL)\n"
              "time.sleep(600)\n")
    start = time.monotonic()
    with pytest.raises(JobFailed, match="process 1 of 2 was killed by signal 9"):
        launch([sys.executable, "-c", script], num_processes=2, timeout=60)
    assert time.monotonic() - start < 30
    assert not _pid_alive(int((tmp_path / "pid0").read_text()))


@pytest.mark.backend_free
@pytest.mark.integration
def test_launcher_timeout_stops_every_process():
    start = time.monotonic()
    with pytest.raises(JobFailed, match="timeout of 1 s"):
        launch([sys.executable, "-c", "import time; time.sleep(600)"], num_processes=2,
               timeout=1)
    assert time.monotonic() - start < 15


@pytest.mark.backend_free
@pytest.mark.parametrize("flags, message", [
    (["--process-id", "0"], "--process-id needs --num-processes"),
    (["--num-processes", "2", "--process-id", "2"], r"--process-id must be in \[0, "),
    (["--num-processes", "3", "--batch-size", "64", "--labelled-per-batch", "16"],
     "--batch-size 64 must be a multiple of --num-processes=3"),
    (["--coordinator-address", "localhost"], "--coordinator-address must be HOST:PORT"),
])
def test_process_flags_are_checked(flags, message):
    import argparse

    from keras_semppl.cli import train_plan

    parser = argparse.ArgumentParser()
    train_plan.add_arguments(parser)
    with pytest.raises(SystemExit, match=message):
        train_plan.resolve_plan(parser.parse_args(flags))


_COLLECTIVES = """
import os, signal, sys, time
from keras_semppl.distribute import processes
processes.join()
import numpy as np
from jax.experimental import multihost_utils
index, step = processes.process_index(), 0
open(os.path.join(sys.argv[1], f"pid{index}"), "w").write(str(os.getpid()))
while True:  # one all-gather of both processes per step
    multihost_utils.process_allgather(np.array([step]))
    step += 1
    if index == 1 and step == 20:
        open(os.path.join(sys.argv[1], "killed"), "w").write(repr(time.time()))
        os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.backend("jax", reason="a JAX multi-process job (in its own jax subprocesses)")
@pytest.mark.integration
def test_killing_a_process_mid_run_fails_the_jax_job_within_seconds(tmp_path):
    # Two processes in a loop of collectives; process 1 dies after 20 of them.
    with pytest.raises(JobFailed, match="process 1 of 2 was killed by signal 9"):
        launch([sys.executable, "-c", _COLLECTIVES, str(tmp_path)], num_processes=2,
               timeout=120, env=_env())
    failed = time.time()
    seconds = failed - float((tmp_path / "killed").read_text())
    assert seconds < 10, f"the launcher took {seconds:.1f} s to fail the job"
    assert not _pid_alive(int((tmp_path / "pid0").read_text()))
    print(json.dumps({"kill_to_failure_seconds": round(seconds, 2)}))

"""Exact resume: a run killed mid-epoch and resumed ends bit-identical to an
uninterrupted one (weights, queue, target, optimizer, seed states)."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from tests import resume_job

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.integration
@pytest.mark.slow
def test_kill_mid_epoch_then_resume_is_bit_identical(tmp_path):
    interrupted = tmp_path / "interrupted"
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    # Killed after optimizer step 7 of 8: the latest checkpoint is step 6,
    # in the middle of the second epoch.
    proc = subprocess.run([sys.executable, "-m", "tests.resume_job", str(interrupted), "7"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr[-3000:]
    names = sorted(os.listdir(interrupted))
    assert names == ["ckpt-00000004.keras", "ckpt-00000006.keras", "run.json"], names

    resumed, _ = resume_job.run(str(interrupted))
    uninterrupted, _ = resume_job.run(str(tmp_path / "straight"))
    a, b = resume_job.state(resumed), resume_job.state(uninterrupted)
    assert [name for name, _ in a] == [name for name, _ in b]
    assert int(keras.ops.convert_to_numpy(resumed.optimizer.iterations)) == 8
    different = [name for (name, x), (_, y) in zip(a, b) if not np.array_equal(x, y)]
    assert not different, different
    assert any("seed_generator" in name for name, _ in a)

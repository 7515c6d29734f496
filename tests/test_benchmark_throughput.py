"""The throughput benchmarks run end to end.

Benchmarks are not timed tests: nothing here checks a speed. (That the
benchmark's fast-path model options keep the losses is tested in
tests/test_model_options.py.)
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "benchmarks", "throughput.py")


@pytest.mark.integration
@pytest.mark.slow
def test_quick_benchmark_runs_end_to_end(tmp_path):
    backend = keras.backend.backend()
    out = tmp_path / "tp"
    proc = subprocess.run(
        [sys.executable, SCRIPT, "--quick", "--no-peer", "--configs",
         f"peer,{backend}-semppl", "--out", str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    result = json.loads((tmp_path / "tp.json").read_text())
    (row,) = result["rows"]
    assert row["config"] == f"{backend}-semppl"
    assert row["images_per_s_median"] > 0 and row["peak_rss_mib_median"] > 0
    assert np.isfinite(result["runs"][0]["final_loss"])
    assert f"{backend}-semppl" in (tmp_path / "tp.md").read_text()


@pytest.mark.backend_free  # it runs all three frameworks itself, whatever KERAS_BACKEND is
@pytest.mark.integration
def test_conv_microbenchmark_runs_on_all_three_frameworks():
    """benchmarks/conv_microbench.py at a tiny size: one timing per framework."""
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "conv_microbench.py"),
         "--repeats", "1", "--batch", "2", "--size", "8"],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ") and "ms" not in line]
    names = [row.split("|")[1].strip() for row in rows]
    assert names == ["tensorflow (oneDNN)", "jax (XLA:CPU)", "torch NCHW", "torch channels_last"]
    assert rows[0].split("|")[3].strip() == "1.00x"

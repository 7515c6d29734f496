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
    """benchmarks/conv_microbench.py at a tiny size: one timing per framework.

    In bfloat16, the casts of every framework are exercised (float32 is the
    same code with no cast)."""
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "conv_microbench.py"),
         "--repeats", "1", "--batch", "2", "--size", "8", "--dtype", "bfloat16"],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "(2, 8, 8, 64), bfloat16," in proc.stdout
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ") and "ms" not in line]
    names = [row.split("|")[1].strip() for row in rows]
    assert names == ["tensorflow (oneDNN)", "jax (XLA:CPU)", "torch NCHW", "torch channels_last"]
    assert rows[0].split("|")[3].strip() == "1.00x"


@pytest.mark.backend_free
def test_ratios_compare_each_config_with_the_peer_at_its_own_precision():
    """Hand-computed: fp32 configs against the faster of peer / peer-cl, bf16 ones
    against peer-bf16, and every config against the fastest peer variant."""
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    try:
        from throughput import markdown, summarise
    finally:
        sys.path.pop(0)
    speeds = {"peer": [20.0, 20.0], "peer-cl": [25.0, 25.0], "peer-bf16": [40.0, 50.0],
              "tensorflow-semppl": [20.0, 21.0, 22.0], "tensorflow-semppl-bf16": [30.0]}
    runs = [{"config": name, "images_per_s": v, "step_times_s": [64 / v], "peak_rss_mib": 1.0}
            for name, values in speeds.items() for v in values]
    rows = {r["config"]: r for r in summarise(runs, list(speeds))}
    fp32, bf16 = rows["tensorflow-semppl"], rows["tensorflow-semppl-bf16"]
    assert (fp32["precision"], bf16["precision"]) == ("fp32", "bf16")
    assert fp32["ratio_vs_peer"] == pytest.approx(21.0 / 20.0)
    assert fp32["ratio_vs_peer_same_precision"] == pytest.approx(21.0 / 25.0)
    assert fp32["ratio_vs_peer_best"] == pytest.approx(21.0 / 45.0)
    assert bf16["ratio_vs_peer_same_precision"] == pytest.approx(30.0 / 45.0)
    assert bf16["ratio_vs_peer_best"] == pytest.approx(30.0 / 45.0)
    assert rows["peer-bf16"]["ratio_vs_peer_same_precision"] == pytest.approx(1.0)
    # Without any peer in the run, no ratio is made up.
    alone = summarise([r for r in runs if r["config"] == "tensorflow-semppl"],
                      ["tensorflow-semppl"])[0]
    assert alone["ratio_vs_peer"] is None and alone["ratio_vs_peer_best"] is None
    text = markdown(list(rows.values()), {"command": "c", "machine": "m", "loadavg_before": 0,
                                          "loadavg_after": 0, "repeats": 2, "steps": 1,
                                          "warmup": 1, "batch_size": 64})
    assert "| tensorflow-semppl-bf16 | bf16 | 30.00 |" in text and "0.67x | 0.67x" in text

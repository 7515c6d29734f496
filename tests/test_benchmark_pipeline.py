"""Smoke test of benchmarks/pipeline_throughput.py at a minimal size."""

import importlib.util
import json
import pathlib

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "pipeline_throughput.py"


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.backend("tensorflow", reason="CI time: a smoke test of the benchmark script's "
                     "outputs (19-37 s a backend); the device views it times are tested on "
                     "every backend by test_device_augment.py")
def test_benchmark_runs_and_writes_consistent_results(tmp_path):
    spec = importlib.util.spec_from_file_location("pipeline_throughput", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    args = bench.parse_args([
        "--batch-size", "16", "--cifar-images", "48", "--imagenet-images", "16",
        "--imagenet-source-size", "48", "--pipeline-batches", "2", "--train-steps", "1",
        "--warmup-steps", "1", "--encoder", "small_convnet", "--head-dim", "32", "--device-steps", "1", "--output-dir", str(tmp_path)])
    result = bench.run(args)
    saved = json.loads((tmp_path / "pipeline_throughput.json").read_text())
    assert saved == json.loads(json.dumps(result))
    rows = saved["rows"]
    assert [r["what"] for r in rows] == ["pipeline"] * 3 + ["train_step"]
    assert [r["views"] for r in rows[:3]] == ["L=2 S=0", "L=4 S=2", "L=2 S=0"]
    assert all(r["images_per_s"] > 0 for r in rows)
    expected = rows[0]["images_per_s"] / rows[-1]["images_per_s"]
    assert abs(saved["ratio_pipeline_over_train_step"] - expected) <= 0.01 * expected + 0.01
    device = saved["device_rows"]
    assert [r["views"] for r in device] == ["L=2 S=0", "L=4 S=2", "L=2 S=0", "L=2 S=0"]
    assert all(r["seconds_per_batch"] > 0 for r in device[:3]) and device[3]["in_train_step"]
    md = (tmp_path / "pipeline_throughput.md").read_text()
    assert str(saved["ratio_pipeline_over_train_step"]) in md and "train_step" in md

"""The digits quality harness runs the main job per seed and aggregates it."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.saved_state import benchmark_module
from tests.toy_data import TINY_TRAIN_ARGS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = TINY_TRAIN_ARGS + ["--steps-per-epoch", "2"]


def _harness():
    return benchmark_module("digits_quality")


@pytest.mark.backend_free  # the harness runs the CLI in subprocesses: once is enough
@pytest.mark.integration
@pytest.mark.slow
def test_harness_tables_two_seeds(tmp_path):
    out = tmp_path / "q"
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "digits_quality.py"), "--seeds", "0,1",
         "--no-ablation", "--out", str(out), "--"] + TINY,
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((tmp_path / "q.json").read_text())
    runs = summary["runs"]
    assert summary["seeds"] == [0, 1] and len(runs) == 2 and summary["ablations"] == []
    # Mean and std are those of the per-seed reports, recomputed here.
    for method in ("SemPPL", "supervised", "label_spreading", "raw_svm"):
        for protocol, mean in summary["mean"][method].items():
            values = [run["accuracy"][method][protocol] for run in runs]
            assert mean == pytest.approx(np.mean(values))
            assert summary["std"][method][protocol] == pytest.approx(np.std(values))
    # Different seeds draw different labels: the classical baselines differ.
    assert runs[0]["accuracy"]["raw_knn"] != runs[1]["accuracy"]["raw_knn"]
    text = (tmp_path / "q.md").read_text()
    assert "| SemPPL | own |" in text and "Paired difference over 2 seeds" in text
    assert (tmp_path / "q.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.backend_free
def test_the_ablation_runs_without_semantic_positives_and_becomes_a_row(tmp_path, monkeypatch):
    digits_quality = _harness()
    calls = []

    def fake_job(extra, workdir):
        calls.append(extra)
        ablation = "--no-semantic-positives" in extra
        accuracy = {"SemPPL": {"own": 0.5 if ablation else 0.9}}
        if not ablation:
            accuracy["label_spreading"] = {"raw": 0.8}
        return {"accuracy": accuracy, "wall_seconds": 1.0,
                "history": {"pseudo_label_accuracy": [0.5, 0.9]}}

    monkeypatch.setattr(digits_quality, "run_job", fake_job)
    assert digits_quality.main(["--seeds", "3", "--out", str(tmp_path / "a"), "--",
                                "--epochs", "1"]) == 0
    assert calls == [["--seed", "3", "--epochs", "1"],
                     ["--seed", "3", "--no-semantic-positives", "--no-baseline",
                      "--no-classical", "--epochs", "1"]]
    summary = json.loads((tmp_path / "a.json").read_text())
    assert summary["mean"]["SemPPL w/o semantic positives"] == {"own": 0.5}
    # The ablation is SemPPL's, never a baseline of the headline.
    assert summary["headline"]["strongest"] == [{"name": "label_spreading", "accuracy": 0.8}]


@pytest.mark.backend_free
def test_the_headline_is_the_paired_difference_to_each_seeds_strongest_baseline():
    digits_quality = _harness()
    runs = [
        {"accuracy": {"SemPPL": {"own": 0.97, "knn": 0.99}, "supervised": {"own": 0.90},
                      "raw_svm": {"raw": 0.95}, "SemPPL w/o semantic positives": {"own": 0.99}}},
        {"accuracy": {"SemPPL": {"own": 0.96}, "supervised": {"own": 0.80, "linear": 0.92},
                      "raw_svm": {"raw": 0.91}}},
        {"accuracy": {"SemPPL": {"own": 0.95}, "label_spreading": {"raw": 0.95}}},
    ]
    head = digits_quality.headline(runs)
    # SemPPL's own rows and the ablation never count as a baseline.
    assert [b["name"] for b in head["strongest"]] == ["raw_svm", "supervised linear",
                                                      "label_spreading"]
    # Differences 0.02, 0.04, 0.00: mean 0.02, sample std 0.02, and the 97.5 %
    # quantile of Student's t with 2 degrees of freedom is 4.302653.
    half = 4.302653 * 0.02 / np.sqrt(3)
    d = head["difference"]
    assert d["n"] == 3 and d["mean"] == pytest.approx(0.02)
    assert d["low"] == pytest.approx(0.02 - half, abs=1e-6)
    assert d["high"] == pytest.approx(0.02 + half, abs=1e-6)

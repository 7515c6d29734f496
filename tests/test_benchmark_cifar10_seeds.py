"""The CIFAR-10 seed summary: means, spreads, paired gaps and goals, by hand."""

import json

import pytest

from tests.saved_state import benchmark_module

META = {"backend": "tensorflow", "precision": "bf16", "labels_per_class": 50,
        "max_train": 45000, "epochs": 7, "steps": 1617, "batch_size": 256,
        "labelled_per_batch": 64, "queue_size": 512, "encoder": "small_convnet(32, 64, 128)"}


def _row(knn, linear, finetune, pseudo=None):
    row = {"knn": knn, "linear": linear, "finetune": finetune}
    if pseudo is not None:
        row["history"] = {"pseudo_label_accuracy": [0.1, pseudo]}
    return row


def _write(tmp_path, seed, semppl, ablation, supervised, **meta):
    path = tmp_path / f"seed{seed}.json"
    path.write_text(json.dumps({"meta": dict(META, seed=seed, **meta), "results": {
        "semppl": semppl, "no_semantic_positives": ablation, "supervised": supervised}}))
    return str(path)


@pytest.mark.backend_free
def test_summary_of_three_seeds_matches_a_hand_computation(tmp_path):
    script = benchmark_module("cifar10_seeds")
    paths = [_write(tmp_path, 2, _row(0.36, 0.42, 0.40, 0.30), _row(0.33, 0.41, 0.39),
                    _row(0.30, 0.33, 0.36)),
             _write(tmp_path, 0, _row(0.34, 0.40, 0.38, 0.28), _row(0.30, 0.37, 0.40),
                    _row(0.32, 0.34, 0.35)),
             _write(tmp_path, 1, _row(0.35, 0.41, 0.39, 0.29), _row(0.34, 0.39, 0.37),
                    _row(0.31, 0.35, 0.37))]
    summary = script.summarise(script.load_runs(paths))
    assert summary["seeds"] == [0, 1, 2]  # sorted by seed
    knn = summary["stats"]["semppl"]["knn"]
    assert knn["mean"] == pytest.approx(0.35) and knn["std"] == pytest.approx(0.01)
    assert knn["per_seed"] == [0.34, 0.35, 0.36]
    gap = summary["gaps"]["no_semantic_positives"]["knn"]
    # differences +4, +1, +3 points: mean 2.667, sample std 1.528, t(0.975, 2) = 4.303
    assert gap["per_seed"] == pytest.approx([0.04, 0.01, 0.03])
    assert gap["mean"] == pytest.approx(0.02667, abs=1e-5)
    half = 4.302653 * 0.0152753 / 3 ** 0.5
    assert gap["low"] == pytest.approx(0.02667 - half, abs=1e-5)
    assert gap["high"] == pytest.approx(0.02667 + half, abs=1e-5)
    assert summary["pseudo_label_accuracy"] == [0.28, 0.29, 0.30]
    met = {g["goal"].split(":")[0]: g["met"] for g in summary["goals"]}
    # k-NN: +2.7 mean, every seed positive -> met. Linear: +3, +2, +1 -> mean +2 (met).
    # Supervised, linear: 0.41 - 0.34 = +7 -> met. Pseudo-labels 0.29 > 0.285 -> met.
    assert all(met.values()), summary["goals"]
    # One seed with a negative k-NN gap fails that goal although the mean is +2.
    paths[1] = _write(tmp_path, 0, _row(0.34, 0.40, 0.38, 0.28), _row(0.35, 0.37, 0.40),
                      _row(0.32, 0.34, 0.35))
    paths[0] = _write(tmp_path, 2, _row(0.36, 0.42, 0.40, 0.30), _row(0.27, 0.41, 0.39),
                      _row(0.30, 0.33, 0.36))
    goals = script.summarise(script.load_runs(paths))["goals"]
    assert not goals[0]["met"] and "-1.0" in goals[0]["measured"]
    text = script.markdown(summary, META, "cmd")
    assert "| SemPPL | 0.350 +- 0.010 (0.340, 0.350, 0.360)" in text
    assert "+2.7 [" in text and "| yes |" in text


@pytest.mark.backend_free
def test_runs_of_other_settings_or_without_a_method_are_refused(tmp_path):
    script = benchmark_module("cifar10_seeds")
    a = _write(tmp_path, 0, _row(1, 1, 1, 1), _row(1, 1, 1), _row(1, 1, 1))
    b = _write(tmp_path, 1, _row(1, 1, 1, 1), _row(1, 1, 1), _row(1, 1, 1), epochs=3)
    with pytest.raises(SystemExit, match="epochs=3, the first file with 7"):
        script.load_runs([a, b])
    with pytest.raises(SystemExit, match="repeat a seed"):
        script.load_runs([a, a])
    c = tmp_path / "c.json"
    c.write_text(json.dumps({"meta": dict(META, seed=4), "results": {"semppl": {}}}))
    with pytest.raises(SystemExit, match="no results for no_semantic_positives, supervised"):
        script.load_runs([a, str(c)])
    with pytest.raises(SystemExit, match="missing.json not found"):
        script.load_runs([str(tmp_path / "missing.json")])

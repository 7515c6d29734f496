"""`semppl train` end to end at a tiny size, and its argument checks."""

import json

import keras
import numpy as np
import pytest

from keras_semppl.cli.main import main
from keras_semppl.evaluation.knn_classifier import knn_classify


def test_train_runs_reports_both_accuracies_and_saves(tmp_path, capsys):
    out = tmp_path / "m.keras"
    code = main(["train", "--epochs", "1", "--batch-size", "64", "--labelled-per-batch", "16",
                 "--image-size", "8", "--queue-size", "128", "--hidden-dim", "32",
                 "--projection-dim", "16", "--verbose", "0", "--output", str(out),
                 "--plots", str(tmp_path / "plots"), "--online-probe"])
    assert code == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["labelled"] == 140 and report["validation"] == 359
    for key in ("semppl_knn_accuracy", "baseline_knn_accuracy"):
        assert 0.0 <= report[key] <= 1.0
    # Far above chance (0.1) even after one epoch: the pipeline is wired up.
    assert report["baseline_knn_accuracy"] > 0.2
    loaded = keras.models.load_model(out)
    assert loaded.num_classes == 10 and loaded.online_probe
    history = json.loads((tmp_path / "plots" / "history.json").read_text())
    assert "pseudo_label_accuracy" in json.dumps(history)
    assert "probe_accuracy" in json.dumps(history)
    assert (tmp_path / "plots" / "training_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_distribute_unavailable_engine_is_a_clear_error():
    # torch has no engine for fit; jax has no tf.distribute strategies.
    wrong = {"jax": "mirrored", "torch": "mirrored"}.get(keras.backend.backend())
    if wrong is None:
        pytest.skip("every engine name is valid under tensorflow")
    with pytest.raises(SystemExit, match="--distribute"):
        main(["train", "--distribute", wrong, "--epochs", "1"])


@pytest.mark.parametrize("argv,message", [
    (["--output", "x.h5"], "must end with .keras"),
    (["--epochs", "0"], "--epochs must be positive"),
    (["--label-fraction", "1.5"], "--label-fraction must be in"),
])
def test_bad_arguments(argv, message):
    with pytest.raises(SystemExit, match=message):
        main(["train"] + argv)


def test_knn_classifier_against_hand_computed_case():
    ref = np.array([[1, 0], [0.9, 0.1], [0, 1], [-1, 0]], "float32")
    labels = np.array([0, 0, 1, 2])
    queries = np.array([[1, 0.05], [0.1, 1]], "float32")
    np.testing.assert_array_equal(knn_classify(ref, labels, queries, 3, k=1), [0, 1])
    # k=3 at query [0.1, 1]: neighbours 2 (label 1, sim ~0.995), 1 (label 0),
    # 0 (label 0): two weaker votes of class 0 beat one of class 1 at a high temperature.
    assert knn_classify(ref, labels, queries[1:], 3, k=3, temperature=100.0)[0] == 0
    assert knn_classify(ref, labels, queries[1:], 3, k=3, temperature=0.01)[0] == 1

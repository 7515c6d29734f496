"""`semppl evaluate` (and `semppl plot --model`) on a saved tiny model."""

import json
import re

import keras
import numpy as np
import pytest

from keras_semppl.cli.main import main
from keras_semppl.data.digits import load_digits
from tests import numpy_reference
from tests.toy_data import tiny_model

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    model = tiny_model(num_classes=10)
    semppl_path = str(folder / "semppl.keras")
    encoder_path = str(folder / "encoder.keras")
    model.save(semppl_path)
    model.extract_encoder().save(encoder_path)
    return semppl_path, encoder_path


def test_evaluate_prints_the_report(saved_model, tmp_path, capsys):
    json_path = str(tmp_path / "report.json")
    code = main(["evaluate", saved_model[0], "--dataset", "digits",
                 "--protocol", "knn,linear,finetune", "--linear-epochs", "5",
                 "--finetune-epochs", "1", "--finetune-head", "linear_probe",
                 "--json", json_path])
    out = capsys.readouterr().out
    assert code == 0
    assert "evaluation on digits (10 classes)" in out
    for protocol in ("knn", "linear", "finetune"):
        row = re.search(rf"^{protocol}\s+([0-9.]+)\s+([0-9.]+)\s+(\d+)\s+(\d+)", out, re.M)
        assert row, out
        top1, top5 = float(row.group(1)), float(row.group(2))
        assert 0.0 <= top1 <= top5 <= 1.0
        assert f"{protocol} confusion matrix" in out
    report = json.load(open(json_path))
    assert [r["protocol"] for r in report["results"]] == ["knn", "linear", "finetune"]
    assert report["results"][2]["settings"]["head_init"] == "linear_probe"
    for r in report["results"]:
        confusion = np.array(r["confusion"])
        assert confusion.sum() == r["num_test"] > 0
        # Top-1 is the confusion matrix's diagonal share.
        assert r["top1"] == pytest.approx(np.trace(confusion) / confusion.sum(), abs=1e-9)
    # The k-NN rule `semppl train` reports with: 20 clipped to the 14 labels
    # per class of digits' default split, stated in one line.
    assert "k-NN: k=14 (at most 20, clipped to the 14 labels of the rarest class)" in out
    assert report["results"][0]["settings"]["k"] == 14
    # k-NN (k=14, T=0.07) against a NumPy loop on the saved model's encoder:
    # digits at the encoder's 8 px, 10% of the labels, a 20% held-out split.
    data = load_digits(image_size=8, val_fraction=0.2, label_fraction=0.1, seed=0)
    assert np.bincount(data.labels[data.labelled_mask]).tolist() == [14] * 10
    encoder = keras.saving.load_model(saved_model[0]).extract_encoder()
    embed = lambda x: keras.ops.convert_to_numpy(encoder(x, training=False))  # noqa: E731
    scores = numpy_reference.weighted_knn_scores(
        embed(data.images[data.labelled_mask]), data.labels[data.labelled_mask],
        embed(data.val_images), 10, 14, 0.07)
    expected = np.mean(scores.argmax(axis=1) == data.val_labels)
    assert report["results"][0]["top1"] == pytest.approx(expected, abs=1.5 / len(data.val_labels))


def test_evaluate_a_plain_encoder_and_plot_its_map(saved_model, tmp_path, capsys):
    assert main(["evaluate", saved_model[1], "--dataset", "digits", "--protocol", "knn",
                 "--no-confusion"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^knn\s+[0-9.]+", out, re.M) and "confusion" not in out
    history = tmp_path / "history.json"
    history.write_text(json.dumps({"loss": [3.0, 2.0], "val_knn_accuracy": [None, 0.5]}))
    assert main(["plot", str(history), "--out", str(tmp_path / "plots"),
                 "--model", saved_model[1], "--dataset", "digits", "--max-points", "150"]) == 0
    with open(tmp_path / "plots" / "tsne.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_evaluate_rejects_unknown_protocol(saved_model):
    with pytest.raises(ValueError, match="Unknown protocol"):
        main(["evaluate", saved_model[1], "--protocol", "svm"])


def test_plot_with_only_a_model_finds_the_history_beside_it(saved_model, tmp_path, capsys):
    import shutil

    model = tmp_path / "runs" / "semppl_digits.keras"
    model.parent.mkdir()
    shutil.copy(saved_model[0], model)
    # The convention `semppl train` writes by: runs/NAME.keras -> runs/NAME.history.json.
    (tmp_path / "runs" / "semppl_digits.history.json").write_text(
        json.dumps({"loss": [3.0, 2.0], "val_knn_accuracy": [None, 0.5]}))
    assert main(["plot", "--model", str(model), "--max-points", "120"]) == 0
    out = capsys.readouterr().out
    plots = tmp_path / "runs" / "semppl_digits_plots"
    for name in ("training_curves.png", "tsne.png"):
        with open(plots / name, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n", name
        assert f"saved {plots / name}" in out


@pytest.mark.backend_free
def test_history_path_for_model():
    from keras_semppl.callbacks.history_io import history_path_for_model

    assert history_path_for_model("runs/semppl_digits.keras") == "runs/semppl_digits.history.json"
    assert history_path_for_model("a/b.model") == "a/b.model.history.json"

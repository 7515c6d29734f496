"""`semppl evaluate` (and `semppl plot --model`) on a saved tiny model."""

import json
import re

import pytest

from keras_semppl.cli.main import main
from tests.toy_data import tiny_model


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
                 "--finetune-epochs", "1", "--json", json_path])
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
    for r in report["results"]:
        assert sum(map(sum, r["confusion"])) == r["num_test"] > 0


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

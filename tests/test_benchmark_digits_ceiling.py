"""The digits headroom script scores the same baselines with 140 and with every label."""

import json

import numpy as np
import pytest

from tests.saved_state import benchmark_module


@pytest.mark.backend_free
def test_ceiling_trains_on_the_drawn_labels_then_on_every_label(tmp_path, monkeypatch):
    import importlib

    digits = importlib.import_module("keras_semppl.data.digits")
    # the package re-exports a function of the module's name, so take the module itself
    classical = importlib.import_module("keras_semppl.evaluation.classical_baselines")

    real = digits.load_digits
    seen = []

    def small(image_size):
        data = real(image_size=image_size)
        return type(data)(images=data.images[:300], labels=data.labels[:300],
                          true_labels=data.true_labels[:300], val_images=data.val_images,
                          val_labels=data.val_labels, num_classes=10)

    def record(images, labels, val_images, val_labels):
        seen.append(np.asarray(labels).copy())
        return {"raw_svm": {"accuracy": 0.5 + 0.1 * len(seen)}}

    monkeypatch.setattr(digits, "load_digits", small)
    monkeypatch.setattr(classical, "classical_baselines", record)
    out = tmp_path / "ceiling"
    assert benchmark_module("digits_ceiling").main(["--out", str(out)]) == 0
    drawn, every = seen
    assert (every >= 0).all() and (drawn >= 0).sum() < 300
    assert np.array_equal(drawn[drawn >= 0], every[drawn >= 0])  # the drawn labels are true
    record = json.loads(out.with_suffix(".json").read_text())["results"]
    assert record["every training label"] == {"labelled": 300, "raw_svm": pytest.approx(0.7)}
    text = out.with_suffix(".md").read_text()
    assert "| every training label (300) | 0.700 |" in text and "359 digits" in text

"""Monitoring: semantic-positive precision, KNNMonitor / LinearProbeMonitor in History, history I/O."""

import math

import keras
import numpy as np
import pytest

from keras_semppl.callbacks import KNNMonitor
from keras_semppl.callbacks import LinearProbeMonitor
from keras_semppl.callbacks import load_history
from keras_semppl.callbacks import save_history_json
from keras_semppl.models.step_metrics import StepMetrics
from tests.toy_data import tiny_model
from tests.toy_data import toy_batch_dict


def test_semantic_positive_precision_by_hand():
    metrics = StepMetrics()
    terms = {name: 0.0 for name in ("loss", "l_augm", "l_sempos", "i_augm", "i_sempos")}
    monitors = {
        # anchors: labelled, unlabelled+known, unlabelled+known, unlabelled+unknown
        "labels": np.array([0, -1, -1, -1], "int32"),
        "pseudo": np.array([0, 1, 2, 1], "int32"),
        "true_labels": np.array([0, 1, 1, -1], "int32"),
        "positive_labels": np.array([[0, 0], [1, 2], [2, 2], [1, 1]], "int32"),
        "positive_mask": np.array([[True, True], [True, True], [True, False], [True, True]]),
    }
    metrics.update(terms, monitors, training=True)
    logs = {k: float(v) for k, v in metrics.results().items()}
    # Counted: anchor 1 (2 draws, 1 right) and anchor 2 (1 valid draw, wrong) -> 1/3.
    assert logs["semantic_positive_precision"] == pytest.approx(1 / 3)
    # Pseudo-labels: unlabelled with a known class are anchors 1 and 2 (1 right);
    # all three unlabelled have a vote; the labelled anchor 0 voted right.
    assert logs["pseudo_label_accuracy"] == pytest.approx(1 / 2)
    assert logs["pseudo_label_coverage"] == pytest.approx(1.0)
    assert logs["labelled_knn_accuracy"] == pytest.approx(1.0)


def test_monitors_appear_in_history(tmp_path):
    keras.utils.set_random_seed(0)
    data = toy_batch_dict(n=96)
    images, labels, truth = data["large_views"][0], data["labels"], data["true_labels"]
    val = labels < 0
    knn = KNNMonitor(images, labels, images[val], truth[val], 3, every=2, k=5)
    probe = LinearProbeMonitor(images, labels, images[val], truth[val], 3, every=3, epochs=10)
    model = tiny_model()
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    csv_path = str(tmp_path / "log.csv")
    history = model.fit(data, batch_size=32, epochs=3, verbose=0,
                        callbacks=[knn, probe, keras.callbacks.CSVLogger(csv_path)]).history
    for key in ("semantic_positive_precision", "val_knn_accuracy", "val_knn_top5",
                "val_linear_accuracy"):
        assert len(history[key]) == 3, key
    assert all(0.0 <= v <= 1.0 for v in history["semantic_positive_precision"])
    # every=2: epoch 2 and the last epoch; every=3: the last epoch only.
    knn_acc = history["val_knn_accuracy"]
    assert math.isnan(knn_acc[0]) and 0.0 <= knn_acc[1] <= 1.0 and 0.0 <= knn_acc[2] <= 1.0
    assert history["val_knn_top5"][2] == 1.0  # 3 classes
    lin = history["val_linear_accuracy"]
    assert math.isnan(lin[0]) and math.isnan(lin[1]) and 0.0 <= lin[2] <= 1.0
    # The same logs reach CSVLogger (and so TensorBoard) and survive a JSON round trip.
    from_csv = load_history(csv_path)
    assert from_csv["val_knn_accuracy"][2] == pytest.approx(knn_acc[2])
    json_path = save_history_json(model.history, str(tmp_path / "h" / "history.json"))
    loaded = load_history(json_path)
    assert set(loaded) == set(history)
    assert math.isnan(loaded["val_knn_accuracy"][0])
    np.testing.assert_allclose(loaded["loss"], history["loss"], rtol=1e-6)


def test_knn_monitor_rejects_bad_settings():
    x = np.zeros((4, 8, 8, 3), "float32")
    with pytest.raises(ValueError, match="every"):
        KNNMonitor(x, [0, 1, 0, 1], x, [0, 1, 0, 1], 2, every=0)
    with pytest.raises(ValueError, match="labelled reference"):
        KNNMonitor(x, [-1, -1, -1, -1], x, [0, 1, 0, 1], 2)


def test_logged_terms_are_the_objectives_terms():
    """The per-term trackers follow the keys `semppl_objective` returns."""
    from keras_semppl.losses import semppl_objective
    from keras_semppl.models.step_metrics import TERM_NAMES

    rng = np.random.default_rng(0)
    unit = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)  # noqa: E731
    terms = semppl_objective(
        unit(rng.normal(size=(2, 4, 3))).astype("float32"),
        unit(rng.normal(size=(2, 4, 3))).astype("float32"),
        np.array([[1], [2], [3], [0]], "int32"),
        unit(rng.normal(size=(2, 4, 1, 3))).astype("float32"),
        np.ones((4, 1), bool),
        temperature=0.1, c=0.3, alpha=0.2, lam=5.0,
    )
    assert set(terms) == set(TERM_NAMES)
    assert [m.name for m in StepMetrics().terms] == list(TERM_NAMES)

"""Classical raw-pixel baselines: hand-built cases with known answers."""

import numpy as np
import pytest

from keras_semppl.evaluation.classical_baselines import BASELINES
from keras_semppl.evaluation.classical_baselines import classical_baselines
from keras_semppl.evaluation.knn_rule import held_out_knn_k

pytestmark = pytest.mark.backend_free


def _two_moons_as_images(rng, n=60):
    """Two well-separated 4-pixel blobs, one label per class."""
    centres = np.array([[0.1, 0.1, 0.9, 0.9], [0.9, 0.9, 0.1, 0.1]])
    classes = np.arange(n) % 2
    x = centres[classes] + 0.03 * rng.normal(size=(n, 4))
    return np.clip(x, 0, 1).reshape(n, 2, 2, 1).astype("float32"), classes


def test_every_baseline_solves_separated_blobs_from_one_label_per_class():
    rng = np.random.default_rng(0)
    images, classes = _two_moons_as_images(rng)
    labels = np.full(len(images), -1)
    labels[:2] = classes[:2]
    val_images, val_classes = _two_moons_as_images(rng, 20)
    results = classical_baselines(images, labels, val_images, val_classes)
    assert tuple(results) == BASELINES == ("raw_knn", "raw_logistic", "raw_svm",
                                           "label_spreading")
    for name in BASELINES:
        assert results[name]["accuracy"] == 1.0, name
        # One label per class: nothing to cross-validate, scikit-learn's defaults.
        assert results[name]["cv_accuracy"] is None, name
    assert results["raw_knn"]["settings"]["k"] == 1
    assert results["raw_svm"]["settings"] == {"C": 1.0, "gamma_scale": 1.0}


def test_label_spreading_uses_the_unlabelled_chain():
    # Points on a line 0..1; the labelled ends are 0 (class 0) and 1 (class 1),
    # but class 0 owns [0, 0.7): a chain of unlabelled points carries label 0
    # past the midpoint, where nearest-labelled k-NN must say class 1.
    xs = np.linspace(0.0, 1.0, 41)
    classes = (xs >= 0.7).astype(int)
    # A gap between the two classes so the chain breaks there.
    keep = (xs < 0.62) | (xs >= 0.7)
    xs, classes = xs[keep], classes[keep]
    images = xs.reshape(-1, 1, 1, 1).astype("float32")
    labels = np.full(len(xs), -1)
    labels[0], labels[-1] = 0, 1
    val = np.array([0.6]).reshape(1, 1, 1, 1).astype("float32")
    results = classical_baselines(images, labels, val, np.array([0]),
                                  settings={"label_spreading": {"n_neighbors": 2, "alpha": 0.2}})
    assert results["raw_knn"]["accuracy"] == 0.0  # 0.6 is nearer to 1.0 than to 0.0
    assert results["label_spreading"]["accuracy"] == 1.0


def test_the_knn_rule_is_clipped_to_the_rarest_class():
    assert held_out_knn_k(np.array([0, 0, 0, 1, 1, -1]), 20) == 2
    assert held_out_knn_k(np.array([0] * 30 + [1] * 30), 20) == 20
    with pytest.raises(ValueError, match="label"):
        held_out_knn_k(np.array([-1, -1]))


def test_mismatched_lengths_and_unknown_settings_are_refused():
    images = np.zeros((3, 2, 2, 1), "float32")
    with pytest.raises(ValueError, match="lengths"):
        classical_baselines(images, np.array([0, 1]), images, np.array([0, 1, 0]))
    with pytest.raises(ValueError, match="raw_forest"):
        classical_baselines(images, np.array([0, 1, 0]), images, np.array([0, 1, 0]),
                            settings={"raw_forest": {}})


def _noisy_digits_like(seed, n_per_class=12, classes=3, dim=20):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim))
    y = np.repeat(np.arange(classes), n_per_class)
    x = centres[y] + 1.2 * rng.normal(size=(len(y), dim))
    return x.reshape(len(y), dim, 1, 1).astype("float32"), y


def test_the_settings_are_those_a_grid_search_over_the_labels_picks():
    # Reference: scikit-learn's GridSearchCV over the same grid and folds,
    # fitted on the labelled images only; the first best setting wins.
    from sklearn.model_selection import GridSearchCV
    from sklearn.model_selection import StratifiedKFold
    from sklearn.svm import SVC

    images, y = _noisy_digits_like(0)
    labels = np.where(np.arange(len(y)) % 3 == 0, -1, y)  # a third unlabelled
    val_images, val_y = _noisy_digits_like(1)
    results = classical_baselines(images, labels, val_images, val_y, seed=3)
    known = labels >= 0
    x, yk = images[known].reshape(known.sum(), -1), labels[known]
    scale = 1.0 / (x.shape[1] * x.var())
    folds = StratifiedKFold(5, shuffle=True, random_state=3)
    search = GridSearchCV(
        SVC(), {"C": [0.1, 1.0, 10.0, 100.0], "gamma": [g * scale for g in (0.25, 0.5, 1, 2)]},
        cv=folds, scoring="accuracy").fit(x, yk)
    chosen = results["raw_svm"]["settings"]
    assert chosen["C"] == search.best_params_["C"]
    assert chosen["gamma_scale"] * scale == pytest.approx(search.best_params_["gamma"])
    assert results["raw_svm"]["cv_accuracy"] == pytest.approx(search.best_score_)
    expected = np.mean(search.best_estimator_.predict(val_images.reshape(len(val_y), -1)) == val_y)
    assert results["raw_svm"]["accuracy"] == pytest.approx(expected)
    for name in BASELINES:
        assert results[name]["cv_accuracy"] is not None, name


def test_the_shared_knn_graph_gives_scikit_learns_label_spreading():
    from sklearn.semi_supervised import LabelSpreading

    from keras_semppl.evaluation.baseline_tuning import KnnGraph
    from keras_semppl.evaluation.baseline_tuning import spread_labels

    images, y = _noisy_digits_like(2, n_per_class=30)
    x = images.reshape(len(y), -1)
    visible = np.where(np.arange(len(y)) % 5 == 0, y, -1)
    graph = KnnGraph(x, 20)
    for k, alpha in ((3, 0.2), (10, 0.8), (20, 0.95)):
        reference = LabelSpreading(kernel="knn", n_neighbors=k, alpha=alpha).fit(x, visible)
        np.testing.assert_array_equal(spread_labels(graph, visible, {"n_neighbors": k,
                                                                     "alpha": alpha}),
                                      reference.transduction_)

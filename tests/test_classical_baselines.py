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
    assert tuple(results) == BASELINES
    for name in BASELINES:
        assert results[name]["accuracy"] == 1.0, name
    assert results["raw_knn"]["settings"]["k"] == 1  # one label per class


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
    results = classical_baselines(images, labels, val, np.array([0]), spreading_neighbours=2)
    assert results["raw_knn"]["accuracy"] == 0.0  # 0.6 is nearer to 1.0 than to 0.0
    assert results["label_spreading"]["accuracy"] == 1.0


def test_the_knn_rule_is_clipped_to_the_rarest_class():
    assert held_out_knn_k(np.array([0, 0, 0, 1, 1, -1]), 20) == 2
    assert held_out_knn_k(np.array([0] * 30 + [1] * 30), 20) == 20
    with pytest.raises(ValueError, match="label"):
        held_out_knn_k(np.array([-1, -1]))


def test_mismatched_lengths_are_refused():
    images = np.zeros((3, 2, 2, 1), "float32")
    with pytest.raises(ValueError, match="lengths"):
        classical_baselines(images, np.array([0, 1]), images, np.array([0, 1, 0]))

"""Plots: training curves and t-SNE maps are valid PNG files of sensible size."""

import json
import math

import numpy as np
import pytest

from keras_semppl.plots import plot_embedding_map
from keras_semppl.plots import plot_training_curves

pytestmark = pytest.mark.backend_free

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _check_png(path, min_width=300, min_height=200):
    import matplotlib.image

    with open(path, "rb") as f:
        assert f.read(8) == PNG_SIGNATURE
    pixels = matplotlib.image.imread(path)
    height, width = pixels.shape[:2]
    assert width >= min_width and height >= min_height, pixels.shape
    assert width <= 4000 and height <= 4000
    # Not a blank canvas.
    assert pixels[..., :3].std() > 0.01
    return pixels.shape


HISTORY = {
    "loss": [9.9, 8.1, 7.2, 6.9],
    "l_augm": [2.4, 2.2, 2.1, 2.0],
    "l_sempos": [1.4, 2.0, 1.9, 1.8],
    "i_augm": [1.1, 0.9, 0.7, 0.6],
    "i_sempos": [0.7, 0.8, 0.7, 0.6],
    "pseudo_label_accuracy": [0.3, 0.5, 0.7, 0.8],
    "semantic_positive_precision": [0.3, 0.5, 0.7, 0.8],
    "val_knn_accuracy": [math.nan, 0.6, math.nan, 0.85],
    "learning_rate": [0.1, 0.08, 0.05, 0.01],
}


def test_training_curves_png_from_dict(tmp_path):
    path = plot_training_curves(HISTORY, str(tmp_path / "sub" / "curves.png"))
    height, width, _ = _check_png(path)
    assert width > height  # one panel per group, side by side


def test_plot_cli_from_json(tmp_path):
    from keras_semppl.cli.main import main

    history = dict(HISTORY, val_knn_accuracy=[None, 0.6, None, 0.85])
    path = tmp_path / "history.json"
    path.write_text(json.dumps(history))
    assert main(["plot", str(path), "--out", str(tmp_path / "plots")]) == 0
    _check_png(str(tmp_path / "plots" / "training_curves.png"))


def test_tsne_map_png(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.arange(90) % 3
    embeddings = 3.0 * rng.normal(size=(3, 16))[labels] + rng.normal(size=(90, 16))
    path = plot_embedding_map(embeddings, labels, str(tmp_path / "tsne.png"),
                              class_names=["a", "b", "c"], max_points=60)
    _check_png(path)

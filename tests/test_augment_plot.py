"""The views grid: `plot_views` and `semppl plot --views`."""

import numpy as np
import pytest

from keras_semppl.augment import make_view_fn
from keras_semppl.augment import view_preset
from keras_semppl.cli.main import main
from keras_semppl.plots.views_grid import plot_views
from keras_semppl.plots.views_grid import sample_views

PNG = b"\x89PNG\r\n\x1a\n"


def test_sample_views_are_the_pipelines_views(tmp_path):
    image = np.random.default_rng(0).random((32, 32, 3)).astype("float32")
    view_fn = make_view_fn(view_preset("cifar", num_large=2, num_small=1), seed=0)
    views = sample_views(image, view_fn, num_draws=3, example_id=5)
    assert [v.shape for v in views] == [(3, 32, 32, 3), (3, 32, 32, 3), (3, 16, 16, 3)]
    large, _ = view_fn(image, np.array([2, 5], np.int64))
    np.testing.assert_array_equal(views[1][2], np.asarray(large[1]))
    path = plot_views(image, view_fn, str(tmp_path / "grid.png"), num_draws=3)
    assert open(path, "rb").read(8) == PNG
    with pytest.raises(ValueError, match="num_draws"):
        sample_views(image, view_fn, num_draws=0)


def test_semppl_plot_views_writes_the_grid(tmp_path):
    assert main(["plot", "--views", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "views.png").read_bytes()[:8] == PNG
    with pytest.raises(SystemExit, match="--views"):
        main(["plot", "--out", str(tmp_path)])

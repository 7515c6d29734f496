"""A grid of one image's training views, as the model sees them (PNG)."""


import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from keras_semppl.plots.figure_io import save_figure  # noqa: E402


def sample_views(image, view_fn, num_draws=8, example_id=0):
    """Views of `image`: a list over views of (num_draws, h, w, C) arrays.

    Args:
        image: float (H, W, C) in [0, 1].
        view_fn: `view_fn(image, example_seed) -> (large, small)`, e.g.
            `keras_semppl.augment.make_view_fn(...)` (host placement).
        num_draws: draws per view, with example seeds (draw, example_id) as
            the training pipeline passes (salt, id).
    """
    if num_draws < 1:
        raise ValueError(f"`num_draws` must be >= 1; got {num_draws!r}.")
    draws = []
    for draw in range(num_draws):
        large, small = view_fn(image, np.array([draw, example_id], np.int64))
        draws.append([np.asarray(v) for v in tuple(large) + tuple(small)])
    return [np.stack([d[v] for d in draws]) for v in range(len(draws[0]))]


def plot_views(image, view_fn, path, num_draws=8, example_id=0, title=None):
    """Writes a PNG: the source image, then one row per view (view one, view
    two, ..., small views) with `num_draws` draws each.

    Returns:
        `path`.
    """
    image = np.asarray(image, np.float32)
    views = sample_views(image, view_fn, num_draws, example_id)
    labels = getattr(view_fn, "view_configs", None)
    num_large = len(labels.large) if labels is not None else len(views)
    rows = len(views)
    fig, axes = plt.subplots(rows, num_draws + 1, figsize=(1.3 * (num_draws + 1), 1.4 * rows),
                             squeeze=False)

    def show(ax, picture):
        picture = np.clip(picture, 0.0, 1.0)
        ax.imshow(picture[..., 0] if picture.shape[-1] == 1 else picture,
                  cmap="gray" if picture.shape[-1] == 1 else None, vmin=0, vmax=1,
                  interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])

    for row, draws in enumerate(views):
        show(axes[row, 0], image)
        if row == 0:
            axes[row, 0].set_title("source", fontsize=8)
        kind = "large" if row < num_large else "small"
        index = row if row < num_large else row - num_large
        axes[row, 0].set_ylabel(f"{kind} view {index + 1}\n({'one' if index % 2 == 0 else 'two'})"
                                f"\n{draws.shape[1]} px", fontsize=7)
        for col in range(num_draws):
            show(axes[row, col + 1], draws[col])
    fig.suptitle(title or "training views (one row per view, one column per draw)", fontsize=9)
    return save_figure(fig, path, dpi=110)

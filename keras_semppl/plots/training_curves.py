"""Training curves (loss terms, pseudo-label and k-NN accuracy) as a PNG."""

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from keras_semppl.plots.figure_io import save_figure  # noqa: E402

LOSS_KEYS = ("loss", "l_augm", "l_sempos", "i_augm", "i_sempos")
_RATE_WORDS = ("accuracy", "coverage", "precision", "top5")


def _panel_of(key):
    base = key[4:] if key.startswith("val_") else key
    if base in LOSS_KEYS or base.endswith("loss"):
        return "loss terms"
    if any(word in base for word in _RATE_WORDS):
        return "accuracies and rates"
    return "other"


def plot_training_curves(history, path, title="SemPPL training"):
    """Writes one PNG with a panel per group of metrics.

    Args:
        history: a `keras.callbacks.History`, its ``.history`` dict, or a
            dict loaded by `keras_semppl.callbacks.load_history`
            ({metric: [value per epoch]}; NaN / None values are skipped).
        path: output .png path (folders are created).

    Returns:
        ``path``.
    """
    logs = getattr(history, "history", history)
    if not logs:
        raise ValueError("The history is empty: nothing to plot.")
    panels = {}
    for key, values in logs.items():
        panels.setdefault(_panel_of(key), []).append((key, list(values)))
    order = [p for p in ("loss terms", "accuracies and rates", "other") if p in panels]
    fig, axes = plt.subplots(1, len(order), figsize=(5.5 * len(order), 4.2), squeeze=False)
    for ax, name in zip(axes[0], order):
        for key, values in panels[name]:
            points = [(i + 1, float(v)) for i, v in enumerate(values)
                      if v is not None and not math.isnan(float(v))]
            if not points:
                continue
            xs, ys = zip(*points)
            style = "--" if key.startswith("val_") else "-"
            ax.plot(xs, ys, style, marker="o" if len(points) < 30 else None, ms=3, label=key)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if name == "accuracies and rates":
            ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    return save_figure(fig, path)

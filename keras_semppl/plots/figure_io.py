"""Writes a finished matplotlib figure: one tail shared by every plot."""

import os

from keras_semppl.io.atomic import atomic_path


def save_figure(fig, path, dpi=100):
    """Lays out ``fig``, writes it atomically to ``path`` (folders made), closes it.

    Returns:
        ``path``.
    """
    import matplotlib.pyplot as plt

    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi)
    plt.close(fig)
    return path

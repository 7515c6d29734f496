"""A 2-D t-SNE map of embeddings, coloured by class, as a PNG."""


import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from keras_semppl.plots.figure_io import save_figure  # noqa: E402


def tsne_2d(embeddings, perplexity=30.0, seed=0):
    """(N, F) -> (N, 2) with scikit-learn's t-SNE (PCA init, cosine metric, 1 thread).

    Perplexity is clipped below N so tiny sets still work.
    """
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    x = np.asarray(embeddings, "float32")
    if x.ndim != 2 or len(x) < 3:
        raise ValueError(f"t-SNE needs (N, F) embeddings with N >= 3; got {x.shape}.")
    perplexity = float(min(perplexity, max(1.0, (len(x) - 1) / 3)))
    # One OpenMP thread: on small, shared machines the default thread count
    # oversubscribes the cores and t-SNE gets tens of times slower.
    with threadpool_limits(limits=1):
        return TSNE(2, perplexity=perplexity, init="pca", metric="cosine",
                    random_state=seed).fit_transform(x)


def plot_embedding_map(embeddings, labels, path, class_names=None, max_points=2000,
                       perplexity=30.0, seed=0, title="t-SNE of embeddings"):
    """Writes a scatter plot of the t-SNE of (N, F) embeddings coloured by (N,) labels.

    At most ``max_points`` rows (a seeded random subset) are embedded.

    Returns:
        ``path``.
    """
    x = np.asarray(embeddings)
    y = np.asarray(labels)
    if len(x) != len(y):
        raise ValueError(f"{len(x)} embeddings but {len(y)} labels.")
    if len(x) > max_points:
        keep = np.random.default_rng(seed).choice(len(x), max_points, replace=False)
        x, y = x[keep], y[keep]
    xy = tsne_2d(x, perplexity=perplexity, seed=seed)
    classes = np.unique(y)
    cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    fig, ax = plt.subplots(figsize=(6.5, 6))
    for i, c in enumerate(classes):
        mask = y == c
        name = class_names[c] if class_names is not None and 0 <= c < len(class_names) else str(c)
        ax.scatter(xy[mask, 0], xy[mask, 1], s=8, color=cmap(i % cmap.N), label=name)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title)
    ax.legend(fontsize=7, markerscale=2, loc="best", ncol=1 if len(classes) <= 12 else 2)
    return save_figure(fig, path)

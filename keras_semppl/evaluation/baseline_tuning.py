"""Settings for the raw-pixel baselines, chosen by cross-validation on the labels.

A baseline is only as good as its tuning. Each classical baseline gets the
same budget, `TRIALS` settings (a fixed grid per method, below), scored by
stratified k-fold cross-validation on the **labelled training images
only** (k = min(5, labels of the rarest class)); the setting with the most
correct held-fold predictions, over all folds, is refitted on every label.
The held-out images never take part in a choice. 16 trials is also about what the SemPPL defaults'
screening used (see the project's benchmark notes).

LabelSpreading (Zhou et al., 2004) is transductive: in each fold the
fold's labels are hidden, the graph spans every training and held-out
image (as in the final fit), and the hidden labels score the setting. Its
k-NN graph is computed once for the largest k (`KnnGraph`) and cut per
setting, which gives scikit-learn's ``kernel="knn"`` graph at a fraction of
the cost.
"""

import numpy as np

TRIALS = 16
MAX_FOLDS = 5

GRIDS = {
    "raw_knn": [{"k": k} for k in range(1, TRIALS + 1)],
    "raw_logistic": [{"C": float(c)} for c in np.logspace(-3, 3, TRIALS)],
    # gamma as a multiple of scikit-learn's "scale", 1 / (features * variance).
    "raw_svm": [{"C": c, "gamma_scale": g} for c in (0.1, 1.0, 10.0, 100.0)
                for g in (0.25, 0.5, 1.0, 2.0)],
    "label_spreading": [{"n_neighbors": k, "alpha": a} for k in (3, 5, 10, 20)
                        for a in (0.2, 0.5, 0.8, 0.95)],
}


# Used when a class has fewer than 2 labels, so nothing can be cross-validated:
# scikit-learn's own defaults (k-NN: the report's k rule, `held_out_knn_k`).
FALLBACK = {
    "raw_logistic": {"C": 1.0},
    "raw_svm": {"C": 1.0, "gamma_scale": 1.0},
    "label_spreading": {"n_neighbors": 10, "alpha": 0.2},
}


def cv_folds(labels, seed=0):
    """Stratified folds over labelled examples, or None when a class has < 2.

    Args:
        labels: int (N,) labels of the labelled examples only.

    Returns:
        list of (train_index, test_index) into ``labels``, or None.
    """
    from sklearn.model_selection import StratifiedKFold

    counts = np.bincount(np.asarray(labels))
    counts = counts[counts > 0]
    n_folds = int(min(MAX_FOLDS, counts.min()))
    if n_folds < 2:
        return None
    splitter = StratifiedKFold(n_folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(labels)), labels))


def make_classifier(name, settings, x, seed=0):
    """The scikit-learn estimator of a supervised baseline with ``settings``.

    Args:
        x: (N, D) the training features (the SVM's gamma scale depends on them).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.svm import SVC

    if name == "raw_knn":
        return KNeighborsClassifier(n_neighbors=settings["k"], weights="distance")
    if name == "raw_logistic":
        return LogisticRegression(C=settings["C"], max_iter=2000, random_state=seed)
    if name == "raw_svm":
        variance = float(np.var(x)) or 1.0
        gamma = settings["gamma_scale"] / (x.shape[1] * variance)
        return SVC(C=settings["C"], gamma=gamma, kernel="rbf", random_state=seed)
    raise ValueError(f"Unknown supervised baseline {name!r}; expected one of "
                     "'raw_knn', 'raw_logistic', 'raw_svm'.")


def _best(scores, grid):
    """(settings, mean accuracy) of the first best setting in grid order."""
    index = int(np.argmax(scores))
    return dict(grid[index]), float(scores[index])


def tune_classifier(name, x, y, seed=0):
    """Chooses ``name``'s setting by cross-validation on (x, y).

    Args:
        x: (N, D) features of the labelled examples; y: (N,) their labels.

    Returns:
        (settings, cv_accuracy); cv_accuracy is None (and settings
        `FALLBACK`'s) when there are too few labels to fold.
    """
    grid = GRIDS[name]
    folds = cv_folds(y, seed)
    if folds is None:
        if name == "raw_knn":
            from keras_semppl.evaluation.knn_rule import held_out_knn_k

            return {"k": held_out_knn_k(y)}, None
        return dict(FALLBACK[name]), None
    if name == "raw_logistic":
        return _best(_logistic_path_scores(x, y, folds, grid, seed), grid)
    scores = []
    for settings in grid:
        correct = 0
        for train, test in folds:
            if name == "raw_knn" and settings["k"] > len(train):
                correct = -1
                break
            model = make_classifier(name, settings, x[train], seed).fit(x[train], y[train])
            correct += int(np.sum(model.predict(x[test]) == y[test]))
        scores.append(correct / len(y) if correct >= 0 else -1.0)
    return _best(scores, grid)


def _logistic_path_scores(x, y, folds, grid, seed):
    """CV accuracy per C of the ascending grid, each fold's fits warm-started
    from the previous C (the regularisation path, as scikit-learn's
    `LogisticRegressionCV` walks it: 3-5x faster than cold starts here)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    correct = np.zeros(len(grid))
    for train, test in folds:
        model = make_classifier("raw_logistic", grid[0], x[train], seed)
        model.set_params(warm_start=True)
        for i, settings in enumerate(grid):
            model.set_params(C=settings["C"])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(x[train], y[train])
            correct[i] += np.sum(model.predict(x[test]) == y[test])
    return list(correct / len(y))


class KnnGraph:
    """scikit-learn's k-NN connectivity graph, computed once for every k.

    ``graph(k)`` is the sparse (N, N) matrix ``kneighbors_graph(x, k,
    mode="connectivity")`` (each point's k nearest, itself included);
    calling the object as a LabelSpreading kernel returns ``graph(k)`` for
    the k set by `use`.
    """

    def __init__(self, x, max_k):
        from sklearn.neighbors import NearestNeighbors

        self._n = len(x)
        self._index = NearestNeighbors(n_neighbors=min(max_k, self._n)).fit(x).kneighbors(
            x, return_distance=False)
        self._k = max_k

    def graph(self, k):
        from scipy import sparse

        k = min(k, self._n)
        rows = np.repeat(np.arange(self._n), k)
        columns = self._index[:, :k].reshape(-1)
        return sparse.csr_matrix((np.ones(len(rows)), (rows, columns)),
                                 shape=(self._n, self._n))

    def use(self, k):
        self._k = k
        return self

    def __call__(self, a, b):
        if len(a) != self._n or len(b) != self._n:
            raise ValueError("KnnGraph only serves the points it was built on.")
        return self.graph(self._k)


def spread_labels(graph, hidden, settings):
    """LabelSpreading's transduction (N,) over ``graph``'s points.

    Args:
        graph: a `KnnGraph` over all N points.
        hidden: int (N,) visible labels, -1 elsewhere.
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.semi_supervised import LabelSpreading

    model = LabelSpreading(kernel=graph.use(settings["n_neighbors"]), alpha=settings["alpha"])
    with warnings.catch_warnings():
        # scikit-learn's 30 iterations, as the untuned baseline always ran;
        # with alpha near 1 they stop before the fixed point.
        warnings.simplefilter("ignore", ConvergenceWarning)
        # The kernel ignores the features; LabelSpreading only needs their count.
        return model.fit(np.zeros((len(hidden), 1)), hidden).transduction_


def tune_label_spreading(graph, labels, seed=0):
    """Chooses LabelSpreading's setting by hiding folds of the labels.

    Args:
        graph: a `KnnGraph` over all N points (training then held-out).
        labels: int (N,) visible labels (held-out points -1).

    Returns:
        (settings, cv_accuracy), as `tune_classifier`.
    """
    grid = GRIDS["label_spreading"]
    labelled = np.flatnonzero(labels >= 0)
    folds = cv_folds(labels[labelled], seed)
    if folds is None:
        return dict(FALLBACK["label_spreading"]), None
    scores = []
    for settings in grid:
        correct = 0
        for _, test in folds:
            hidden = labels.copy()
            hidden[labelled[test]] = -1
            guess = spread_labels(graph, hidden, settings)[labelled[test]]
            correct += int(np.sum(guess == labels[labelled[test]]))
        scores.append(correct / len(labelled))
    return _best(scores, grid)

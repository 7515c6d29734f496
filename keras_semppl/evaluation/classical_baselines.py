"""Classical baselines on raw pixels: what a deep method has to beat.

Three scikit-learn methods, each fitted on the same labelled images the
deep methods see:

* ``raw_knn``: distance-weighted k-NN on raw pixels (k at most the number of
  labels of the rarest class, so a vote can be won by one class alone);
* ``raw_logistic``: multinomial logistic regression on raw pixels;
* ``label_spreading``: `sklearn.semi_supervised.LabelSpreading` with a k-NN
  kernel (k=10), transductive over the training images (labelled and
  unlabelled) plus the held-out images, whose labels it never sees
  (Zhou et al., 2004).

On the embedded digits split they cost about a second together.
"""

import time

import numpy as np

from keras_semppl.evaluation.knn_rule import held_out_knn_k

BASELINES = ("raw_knn", "raw_logistic", "label_spreading")


def _flat(images):
    images = np.asarray(images, "float32")
    return images.reshape(len(images), -1)


def classical_baselines(images, labels, val_images, val_labels, knn_k=20,
                        spreading_neighbours=10, seed=0):
    """Held-out accuracy of each baseline in `BASELINES`.

    Args:
        images: (N, H, W, C) training images; labels (N,), -1 = unlabelled.
        val_images: (M, H, W, C) held-out images with labels (M,).
        knn_k: upper bound of k for ``raw_knn`` (see `held_out_knn_k`).
        spreading_neighbours: k of LabelSpreading's k-NN kernel.

    Returns:
        dict name -> {"accuracy": float, "seconds": float, "settings": dict}.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.semi_supervised import LabelSpreading

    labels = np.asarray(labels)
    val_labels = np.asarray(val_labels)
    if len(labels) != len(images) or len(val_labels) != len(val_images):
        raise ValueError("images/labels and val_images/val_labels must have equal lengths.")
    labelled = labels >= 0
    x, y = _flat(images[labelled]), labels[labelled]
    val = _flat(val_images)
    k = held_out_knn_k(y, knn_k)
    models = {
        "raw_knn": (KNeighborsClassifier(n_neighbors=k, weights="distance"), {"k": k}),
        "raw_logistic": (LogisticRegression(max_iter=2000, random_state=seed), {}),
    }
    results = {}
    for name, (model, settings) in models.items():
        start = time.perf_counter()
        predictions = model.fit(x, y).predict(val)
        results[name] = dict(accuracy=float(np.mean(predictions == val_labels)),
                             seconds=time.perf_counter() - start, settings=settings)
    start = time.perf_counter()
    spreading = LabelSpreading(kernel="knn", n_neighbors=spreading_neighbours)
    everything = np.concatenate([_flat(images), val])
    hidden = np.concatenate([np.where(labelled, labels, -1), np.full(len(val), -1)])
    spreading.fit(everything, hidden)
    predictions = spreading.transduction_[len(images):]
    results["label_spreading"] = dict(
        accuracy=float(np.mean(predictions == val_labels)),
        seconds=time.perf_counter() - start,
        settings={"kernel": "knn", "n_neighbors": spreading_neighbours})
    return results

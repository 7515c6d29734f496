"""Linear probe: a softmax classifier on frozen, cached embeddings.

Recipe of the official SemPPL / BYOL linear evaluation, scaled down: SGD with
Nesterov momentum 0.9, learning rate base_lr * batch / 256 (base 0.3 there)
with cosine decay, no weight decay; 100 epochs there and here (the embeddings
are cached, so an epoch is cheap). Features are standardised with the training
split's mean and standard deviation first (a choice, not in the recipe: it
makes one learning rate fit encoders whose feature scales differ).
"""

import time

import keras
import numpy as np

from keras_semppl.evaluation.knn_eval import result_from_scores


def shuffled_batches(x, y, batch_size, seed, augment=None):
    """Endless full (x, y) batches from back-to-back random permutations.

    Every batch has exactly ``batch_size`` rows (a pass's tail continues into
    the next permutation), so compiled steps see one shape only.
    """
    rng = np.random.default_rng(seed)
    pending = np.zeros((0,), "int64")
    while True:
        while len(pending) < batch_size:
            pending = np.concatenate([pending, rng.permutation(len(x))])
        idx, pending = pending[:batch_size], pending[batch_size:]
        xb = x[idx] if augment is None else np.asarray(augment(x[idx]), "float32")
        yield xb, y[idx]


def _fit_probe(x, y, num_classes, epochs, batch_size, base_lr, momentum, weight_decay,
               standardize, seed, verbose):
    """(probe, mean, std): a Dense(C) fitted on (x - mean) / std."""
    if x.ndim != 2 or len(x) != len(y) or len(x) == 0:
        raise ValueError(f"Need (N, F) embeddings and (N,) labels, N > 0; got {x.shape}, {y.shape}.")
    if standardize:
        mean, std = x.mean(axis=0), x.std(axis=0) + 1e-6
    else:
        mean, std = np.zeros(x.shape[1], "float32"), np.ones(x.shape[1], "float32")
    batch_size = min(int(batch_size), len(x))
    steps = epochs * int(np.ceil(len(x) / batch_size))
    lr = keras.optimizers.schedules.CosineDecay(base_lr * batch_size / 256, steps)
    keras.utils.set_random_seed(seed)
    probe = keras.Sequential([keras.Input((x.shape[1],)),
                              keras.layers.Dense(num_classes, name="linear_probe",
                                                 dtype="float32")])
    probe.compile(
        optimizer=keras.optimizers.SGD(lr, momentum=momentum, nesterov=True,
                                       weight_decay=weight_decay or None),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    # One Keras epoch of all the steps: the probe's epochs are tiny, and Keras'
    # per-epoch overhead would dominate.
    standardised = ((x - mean) / std).astype("float32")
    probe.fit(shuffled_batches(standardised, y, batch_size, seed), steps_per_epoch=steps,
              epochs=1, shuffle=False, verbose=verbose)
    return probe, mean.astype("float32"), std.astype("float32")


def train_linear_probe(train_embeddings, train_labels, num_classes, epochs=100,
                       batch_size=256, base_lr=0.3, momentum=0.9, weight_decay=0.0,
                       standardize=True, seed=0, verbose=0):
    """Fits a `keras.layers.Dense(C)` on (N, F) embeddings with (N,) labels.

    Returns:
        ``predict``: a function (M, F) embeddings -> (M, C) float logits.
    """
    x = np.asarray(train_embeddings, "float32")
    y = np.asarray(train_labels, "int32")
    probe, mean, std = _fit_probe(x, y, num_classes, epochs, batch_size, base_lr, momentum,
                                  weight_decay, standardize, seed, verbose)

    def predict(embeddings):
        e = (np.asarray(embeddings, "float32") - mean) / std
        return np.asarray(probe.predict(e.astype("float32"), batch_size=1024, verbose=0))

    return predict


def linear_probe_head(train_embeddings, train_labels, num_classes, epochs=100,
                      batch_size=256, base_lr=0.3, momentum=0.9, weight_decay=0.0,
                      standardize=True, seed=0):
    """The linear probe as weights of a Dense(C) on *raw* embeddings.

    Fits `train_linear_probe`'s classifier and folds the standardisation into
    it: logits = e @ kernel + bias equals the probe's logits for
    (e - mean) / std.

    Returns:
        (kernel (F, C), bias (C,)), float32 NumPy arrays.
    """
    x = np.asarray(train_embeddings, "float32")
    y = np.asarray(train_labels, "int32")
    probe, mean, std = _fit_probe(x, y, num_classes, epochs, batch_size, base_lr, momentum,
                                  weight_decay, standardize, seed, verbose=0)
    kernel, bias = (np.asarray(w, "float32") for w in probe.layers[-1].get_weights())
    folded = kernel / std[:, None]
    return folded.astype("float32"), (bias - mean @ folded).astype("float32")


def linear_probe_evaluate(train_embeddings, train_labels, test_embeddings, test_labels,
                          num_classes, epochs=100, batch_size=256, base_lr=0.3,
                          momentum=0.9, weight_decay=0.0, standardize=True, seed=0):
    """Linear protocol on cached embeddings (see the module docstring).

    Args:
        train_embeddings: (N, F), train_labels: (N,) in [0, C).
        test_embeddings: (M, F), test_labels: (M,).

    Returns:
        `ProtocolResult` named "linear".
    """
    start = time.perf_counter()
    predict = train_linear_probe(train_embeddings, train_labels, num_classes, epochs=epochs,
                                 batch_size=batch_size, base_lr=base_lr, momentum=momentum,
                                 weight_decay=weight_decay, standardize=standardize, seed=seed)
    settings = {"epochs": epochs, "batch_size": batch_size, "base_lr": base_lr,
                "momentum": momentum, "weight_decay": weight_decay, "standardize": standardize}
    return result_from_scores("linear", predict(test_embeddings), test_labels, num_classes,
                              settings, len(train_labels), start)

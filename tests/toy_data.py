"""A small, learnable semi-supervised toy problem for model tests."""

import numpy as np


def toy_batch_dict(n=96, num_classes=3, size=8, labelled_every=3, seed=0, noise=0.35):
    """Class = a colour; two views add independent noise and a random flip.

    Returns the dict form of `keras_semppl.batch` with NumPy arrays.
    """
    rng = np.random.default_rng(seed)
    y = np.arange(n) % num_classes
    # Each class has its own colour; the pattern on top is per-example noise.
    colours = rng.random((num_classes, 1, 1, 3)).astype("float32")
    protos = np.broadcast_to(colours, (num_classes, size, size, 3))

    def view():
        x = protos[y] + noise * rng.normal(size=(n, size, size, 3)).astype("float32")
        flip = rng.random(n) < 0.5
        x[flip] = x[flip, :, ::-1]
        return np.clip(x, 0, 1).astype("float32")

    # Every labelled_every-th example *of each class* keeps its label.
    labelled = (np.arange(n) // num_classes) % labelled_every == 0
    labels = np.where(labelled, y, -1).astype("int32")
    return {
        "large_views": (view(), view()),
        "labels": labels,
        "ids": np.arange(n, dtype="int32"),
        "true_labels": y.astype("int32"),
    }


def tiny_model(num_classes=3, size=8, queue_size=48, **kwargs):
    from keras_semppl.encoders.small_convnet import small_convnet
    from keras_semppl.models import SemPPL

    encoder = small_convnet((size, size, 3), widths=(8, 16))
    defaults = dict(
        projector_hidden_dim=32,
        projection_dim=16,
        predictor_hidden_dim=32,
        queue_size=queue_size,
        num_negatives=5,
        num_semantic_positives=2,
        seed=0,
    )
    defaults.update(kwargs)
    return SemPPL(encoder, num_classes=num_classes, **defaults)


#: `semppl train` at toy size on the embedded digits: 8 px images, one epoch,
#: small heads and queue (add ``--steps-per-epoch 2`` for an even shorter run).
TINY_TRAIN_ARGS = ["--epochs", "1", "--batch-size", "64", "--labelled-per-batch", "16",
                   "--image-size", "8", "--queue-size", "128", "--hidden-dim", "32",
                   "--projection-dim", "16"]

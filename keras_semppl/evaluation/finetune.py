"""Fine-tuning: the whole encoder plus a linear head, on the labelled subset.

The paper's headline protocol (SemPPL, Bošnjak et al., 2023: fine-tune on the
1% / 10% ImageNet labels, report validation top-1). Its exact fine-tuning
recipe could not be retrieved; the defaults here are a choice for small data:
SGD with Nesterov momentum 0.9, learning rate base_lr * batch / 256 with
cosine decay, weight decay 0, cross-entropy. The encoder passed in is copied,
never changed.

``head_init="linear_probe"`` starts the head from the linear probe on the
frozen encoder (LP-FT: Kumar et al., "Fine-Tuning can Distort Pretrained
Features and Underperform Out-of-Distribution", ICLR 2022): a random head
sends large gradients into the encoder while it learns, which with a few
hundred labels undoes much of what the encoder knew. Measured on CIFAR-10 with
500 labels (`benchmarks/NOTES.md`): a random head fine-tuned to 0.32 on
images outside the label set, below the linear probe (0.40); LP-FT kept 0.40.
"""

import time

import keras
import numpy as np

from keras_semppl.evaluation.embed import embed_images
from keras_semppl.evaluation.knn_eval import result_from_scores
from keras_semppl.evaluation.linear_probe import linear_probe_head
from keras_semppl.evaluation.linear_probe import shuffled_batches

HEAD_INITS = ("random", "linear_probe")


def random_crop_flip(pad=4, seed=0):
    """The standard CIFAR training augmentation, as a NumPy batch function.

    Each image is zero-padded by ``pad`` pixels on every side, cropped back to
    its size at a uniformly random offset, and flipped left-right with
    probability 0.5 (He et al. 2016, Sec. 4.2). For `finetune_evaluate`'s
    ``augment``.

    Returns:
        A function (B, H, W, C) -> (B, H, W, C) float32.
    """
    if isinstance(pad, bool) or not isinstance(pad, int) or pad < 0:
        raise ValueError(f"pad must be an int >= 0; got {pad!r}.")
    rng = np.random.default_rng(seed)

    def augment(images):
        x = np.asarray(images, "float32")
        if x.ndim != 4:
            raise ValueError(f"Expected images (B, H, W, C); got shape {x.shape}.")
        b, h, w = x.shape[:3]
        padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
        dy = rng.integers(0, 2 * pad + 1, b)
        dx = rng.integers(0, 2 * pad + 1, b)
        out = np.stack([padded[i, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(b)])
        flip = rng.random(b) < 0.5
        out[flip] = out[flip, :, ::-1]
        return out

    return augment


def copy_encoder(encoder):
    """A fresh `keras.Model` with the encoder's architecture and weights."""
    clone = keras.models.clone_model(encoder)
    clone.set_weights(encoder.get_weights())
    return clone


def finetune_classifier(encoder, images, labels, num_classes, epochs=30, batch_size=32,
                        base_lr=0.4, momentum=0.9, weight_decay=0.0, augment=None,
                        seed=0, verbose=0, head_init="random"):
    """Trains a copy of ``encoder`` with a Dense(C) head on labelled images.

    Args:
        encoder: `keras.Model` (B, H, W, C) -> (B, F); it is copied.
        images: (N, H, W, C) float32, labels: (N,) int in [0, C).
        augment: optional function (B, H, W, C) NumPy -> (B, H, W, C) NumPy
            applied to every training batch (None: no augmentation).
        head_init: "random" (Keras' default initialiser) or "linear_probe"
            (the head starts as the linear probe on the frozen encoder's
            embeddings of ``images``: LP-FT, see the module docstring).

    Returns:
        The classifier `keras.Model` (B, H, W, C) -> (B, C) logits.
    """
    x = np.asarray(images, "float32")
    y = np.asarray(labels, "int32")
    if len(x) == 0 or len(x) != len(y):
        raise ValueError(f"Need N > 0 images with one label each; got {len(x)} and {len(y)}.")
    if head_init not in HEAD_INITS:
        raise ValueError(f"head_init must be one of {HEAD_INITS}; got {head_init!r}.")
    keras.utils.set_random_seed(seed)
    trunk = copy_encoder(encoder)
    inputs = keras.Input(trunk.inputs[0].shape[1:])
    head = keras.layers.Dense(num_classes, name="finetune_head")
    logits = head(trunk(inputs))
    classifier = keras.Model(inputs, logits, name="finetuned_classifier")
    if head_init == "linear_probe":
        head.set_weights(linear_probe_head(embed_images(trunk, x), y, num_classes, seed=seed))
    batch_size = min(int(batch_size), len(x))
    steps_per_epoch = int(np.ceil(len(x) / batch_size))
    lr = keras.optimizers.schedules.CosineDecay(base_lr * batch_size / 256,
                                                epochs * steps_per_epoch)
    classifier.compile(
        optimizer=keras.optimizers.SGD(lr, momentum=momentum, nesterov=True,
                                       weight_decay=weight_decay or None),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    classifier.fit(shuffled_batches(x, y, batch_size, seed, augment),
                   steps_per_epoch=epochs * steps_per_epoch, epochs=1, shuffle=False, verbose=verbose)
    return classifier


def finetune_evaluate(encoder, train_images, train_labels, test_images, test_labels,
                      num_classes, epochs=30, batch_size=32, base_lr=0.4, momentum=0.9,
                      weight_decay=0.0, augment=None, seed=0, head_init="random"):
    """Fine-tuning protocol; returns a `ProtocolResult` named "finetune"."""
    start = time.perf_counter()
    classifier = finetune_classifier(encoder, train_images, train_labels, num_classes,
                                     epochs=epochs, batch_size=batch_size, base_lr=base_lr,
                                     momentum=momentum, weight_decay=weight_decay,
                                     augment=augment, seed=seed, head_init=head_init)
    logits = classifier.predict(np.asarray(test_images, "float32"), batch_size=256, verbose=0)
    settings = {"epochs": epochs, "batch_size": batch_size, "base_lr": base_lr,
                "momentum": momentum, "weight_decay": weight_decay,
                "augment": augment is not None, "head_init": head_init}
    return result_from_scores("finetune", np.asarray(logits), test_labels, num_classes,
                              settings, len(train_labels), start)

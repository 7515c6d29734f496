"""Supervised-only baseline: the same encoder trained by cross-entropy on the labelled images."""

import keras
import numpy as np
import tensorflow as tf


def train_supervised_baseline(encoder, images, labels, num_classes, view_fn, steps,
                              batch_size=32, learning_rate=2e-3, seed=0, verbose=0):
    """Trains ``encoder`` (in place) plus a linear head on the labelled examples.

    Each step sees one augmented view (the first large view of ``view_fn``) of a
    batch drawn with replacement from the labelled images, so the baseline gets
    the same augmentations and number of optimizer steps as the method it is
    compared with.

    Args:
        encoder: a fresh `keras.Model` (B, H, W, C) -> (B, F).
        images: (N, H, W, C) float in [0, 1]; labels: (N,) int, -1 = unlabelled.

    Returns:
        The trained classifier (`keras.Model`); ``encoder`` is its trunk.
    """
    mask = np.asarray(labels) >= 0
    x, y = np.asarray(images)[mask], np.asarray(labels)[mask].astype("int32")
    if len(x) == 0:
        raise ValueError("The supervised baseline needs at least one labelled example.")
    ids = np.arange(len(x), dtype="int32")

    def augment(image, label, index):
        large, _ = view_fn(image, index)
        return large[0], label

    ds = (
        tf.data.Dataset.from_tensor_slices((x, y, ids))
        .repeat()
        .shuffle(len(x), seed=seed)
        .map(augment, num_parallel_calls=tf.data.AUTOTUNE)
        .batch(batch_size, drop_remainder=True)
        .prefetch(tf.data.AUTOTUNE)
    )
    inputs = keras.Input(encoder.inputs[0].shape[1:])
    logits = keras.layers.Dense(num_classes, name="classifier")(encoder(inputs))
    model = keras.Model(inputs, logits, name="supervised_baseline")
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps)
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=1e-4),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(ds, steps_per_epoch=steps, epochs=1, shuffle=False, verbose=verbose)
    return model

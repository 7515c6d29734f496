"""SemPPL's own classifier on new images: its k-NN pseudo-labeller.

During training an unlabelled example takes the majority vote of the k queue
entries (target projections of labelled examples) nearest to its online
prediction. Applied to held-out images, with the labelled training images'
target projections as the queue, the same vote is the model's own classifier:
what its pseudo-labels would be on data it never saw. No new classifier is
fitted, and k is the model's ``knn_k`` (never above the labels of a class
unless the user asks for it).
"""

import numpy as np
from keras import ops

from keras_semppl.evaluation.embed import embed_images


def _normalised(x):
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _online(model, images, batch_size):
    def predict(batch, training=False):
        x = model.encoder(batch, training=training)
        return model.predictor(model.projector(x, training=training), training=training)

    return _normalised(embed_images(predict, images, batch_size))


def _target(model, images, batch_size):
    def project(batch, training=False):
        return model.target_projector(model.target_encoder(batch, training=training),
                                      training=training)

    return _normalised(embed_images(project, images, batch_size))


def own_classifier_predict(model, reference_images, reference_labels, images, batch_size=256):
    """Pseudo-labels of ``images`` by the model's k-NN vote over a labelled set.

    Args:
        model: a trained `SemPPL`.
        reference_images: (N, H, W, C) labelled images (the "queue"), at the
            encoder's input size, with labels (N,) in [0, C).
        images: (M, H, W, C) images to classify.

    Returns:
        (M,) int predictions (-1 only if no reference exists).
    """
    reference_labels = np.asarray(reference_labels, "int32")
    if len(reference_labels) != len(reference_images) or len(reference_labels) == 0:
        raise ValueError("reference_images need one label each, and at least one.")
    if reference_labels.min() < 0 or reference_labels.max() >= model.num_classes:
        raise ValueError(f"reference_labels must lie in [0, {model.num_classes}).")
    if model.knn.k > len(reference_labels):
        raise ValueError(f"The model's knn_k={model.knn.k} is larger than the "
                         f"{len(reference_labels)} reference images.")
    keys = ops.convert_to_tensor(_target(model, reference_images, batch_size)[None])
    key_labels = ops.convert_to_tensor(reference_labels)
    key_ids = ops.convert_to_tensor(np.arange(len(reference_labels), dtype="int32"))
    queries = _online(model, images, batch_size)
    predictions = []
    for start in range(0, len(queries), batch_size):
        chunk = queries[start:start + batch_size]
        labels, _ = model.knn(ops.convert_to_tensor(chunk[None]), keys, key_labels, key_ids,
                              ops.convert_to_tensor(np.full(len(chunk), -1, "int32")))
        predictions.append(ops.convert_to_numpy(labels))
    return np.concatenate(predictions).astype("int64")


def own_classifier_accuracy(model, reference_images, reference_labels, images, labels,
                            batch_size=256):
    """Top-1 accuracy of `own_classifier_predict` against ``labels`` (M,)."""
    predictions = own_classifier_predict(model, reference_images, reference_labels, images,
                                         batch_size)
    return float(np.mean(predictions == np.asarray(labels)))

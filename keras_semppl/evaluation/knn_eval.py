"""Weighted k-NN evaluation on frozen embeddings, with top-1 and top-5.

Scores follow the weighted k-NN monitor of Wu et al. (2018), as used by DINO
and solo-learn: cosine similarity to every reference embedding, the k most
similar vote for their class with weight exp(similarity / temperature).
Defaults k=20, temperature=0.07 are theirs.
"""

import time

import numpy as np

from keras_semppl.evaluation.classification_metrics import confusion_matrix
from keras_semppl.evaluation.classification_metrics import top_k_accuracy
from keras_semppl.evaluation.report import ProtocolResult

DEFAULT_K = 20
DEFAULT_TEMPERATURE = 0.07


def _unit_rows(x):
    x = np.asarray(x, "float64")
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def knn_class_scores(reference, reference_labels, queries, num_classes,
                     k=DEFAULT_K, temperature=DEFAULT_TEMPERATURE, chunk_size=1024):
    """Summed vote weights per class.

    Args:
        reference: (N, F) embeddings with labels `reference_labels` (N,) in [0, C).
        queries: (M, F) embeddings to classify.
        num_classes: C.
        k: neighbours (clipped to N). temperature: > 0.
        chunk_size: queries per similarity block (bounds memory to chunk x N).

    Returns:
        (M, C) float64 scores; argmax is the weighted k-NN prediction.
    """
    reference_labels = np.asarray(reference_labels, "int64")
    reference = np.asarray(reference)
    queries = np.asarray(queries)
    if reference.ndim != 2 or queries.ndim != 2 or reference.shape[1] != queries.shape[1]:
        raise ValueError(f"reference and queries must be (N, F) and (M, F); got "
                         f"{reference.shape} and {queries.shape}.")
    if len(reference_labels) != len(reference) or len(reference) == 0:
        raise ValueError("Need at least one reference row and one label per reference row.")
    if np.any(reference_labels < 0) or np.any(reference_labels >= num_classes):
        raise ValueError(f"reference_labels must lie in [0, {num_classes}).")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0; got {temperature!r}.")
    k = min(int(k), len(reference))
    ref = _unit_rows(reference)
    qry = _unit_rows(queries)
    scores = np.zeros((len(qry), num_classes))
    for start in range(0, len(qry), chunk_size):
        sims = qry[start:start + chunk_size] @ ref.T
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        weights = np.exp(np.take_along_axis(sims, top, axis=1) / temperature)
        rows = np.repeat(np.arange(len(sims)), k) + start
        np.add.at(scores, (rows, reference_labels[top].ravel()), weights.ravel())
    return scores


def knn_classify(reference, reference_labels, queries, num_classes, k=DEFAULT_K,
                 temperature=DEFAULT_TEMPERATURE):
    """Predicted classes (M,) of ``queries`` (M, F): argmax of `knn_class_scores`."""
    return np.argmax(knn_class_scores(reference, reference_labels, queries, num_classes,
                                      k=k, temperature=temperature), axis=1)


def knn_evaluate(train_embeddings, train_labels, test_embeddings, test_labels,
                 num_classes, k=DEFAULT_K, temperature=DEFAULT_TEMPERATURE):
    """k-NN protocol: the labelled training embeddings vote for each test embedding.

    Returns:
        `ProtocolResult` named "knn" with top-1, top-5 and the confusion matrix.
    """
    start = time.perf_counter()
    scores = knn_class_scores(train_embeddings, train_labels, test_embeddings,
                              num_classes, k=k, temperature=temperature)
    return result_from_scores("knn", scores, test_labels, num_classes,
                              settings={"k": int(k), "temperature": float(temperature)},
                              num_train=len(train_labels), start_time=start)


def result_from_scores(protocol, scores, labels, num_classes, settings, num_train, start_time):
    """Builds a `ProtocolResult` from (M, C) scores and (M,) true labels."""
    labels = np.asarray(labels, "int64")
    predictions = np.argmax(scores, axis=1)
    return ProtocolResult(
        protocol=protocol,
        top1=top_k_accuracy(scores, labels, 1),
        top5=top_k_accuracy(scores, labels, 5),
        confusion=confusion_matrix(labels, predictions, num_classes),
        num_train=int(num_train),
        num_test=int(len(labels)),
        settings=dict(settings),
        seconds=time.perf_counter() - start_time,
    )

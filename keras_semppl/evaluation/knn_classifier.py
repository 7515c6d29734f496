"""Weighted k-NN classification on frozen embeddings.

Cosine similarity to every reference embedding; the k most similar vote with
weight exp(similarity / temperature) (the weighted k-NN monitor of Wu et al.,
2018, used by DINO and solo-learn; defaults k=20, temperature=0.07 there).
"""

import numpy as np


def knn_classify(reference, reference_labels, queries, num_classes, k=20, temperature=0.07):
    """Predicted classes of `queries` (M, F) from `reference` (N, F) with labels (N,).

    Returns:
        (M,) int predictions.
    """
    reference = np.asarray(reference, "float64")
    queries = np.asarray(queries, "float64")
    reference_labels = np.asarray(reference_labels)
    if reference.ndim != 2 or queries.ndim != 2 or reference.shape[1] != queries.shape[1]:
        raise ValueError(
            f"reference and queries must be (N, F) and (M, F); got "
            f"{reference.shape} and {queries.shape}."
        )
    if len(reference_labels) != len(reference):
        raise ValueError("reference_labels must have one label per reference row.")
    if np.any(reference_labels < 0) or np.any(reference_labels >= num_classes):
        raise ValueError(f"reference_labels must lie in [0, {num_classes}).")
    k = min(k, len(reference))
    ref = reference / np.maximum(np.linalg.norm(reference, axis=1, keepdims=True), 1e-12)
    qry = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
    sims = qry @ ref.T
    top = np.argsort(-sims, axis=1)[:, :k]
    top_sims = np.take_along_axis(sims, top, axis=1)
    weights = np.exp(top_sims / temperature)
    scores = np.zeros((len(queries), num_classes))
    np.add.at(scores, (np.repeat(np.arange(len(queries)), k), reference_labels[top].ravel()), weights.ravel())
    return scores.argmax(axis=1)

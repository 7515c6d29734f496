"""k-NN pseudo-labels from a queue of labelled embeddings (SemPPL step 4).

For each example, each of its query views is compared with each per-view
queue by cosine similarity; the k nearest valid entries of every (view, queue)
pair vote, and the majority wins (SemPPL, Bošnjak et al. 2023; the vote over
(view, queue) pairs follows MAE-CT_SemPPL, k=1 there). An entry holding the
example's own id is excluded. Ties between classes go to the class whose votes
have the larger summed similarity (our choice: deterministic and
order-independent). An example with no valid vote gets -1.
"""

import keras
from keras import ops

# Cosine similarities lie in [-1, 1]; anything below this marks "not a candidate".
_INVALID = -3.0


@keras.saving.register_keras_serializable(package="keras_semppl")
class KNNPseudoLabeler(keras.layers.Layer):
    """Majority vote of the k nearest queue entries over (view, queue) pairs.

    Args:
        num_classes: number of classes C.
        k: neighbours per (view, queue) pair (MAE-CT_SemPPL: 1).

    Call args:
        queries: (Vq, B, D) normalised query embeddings.
        keys: (Vk, Q, D) normalised queue embeddings.
        key_labels: (Q,) int, -1 for empty slots.
        key_ids: (Q,) int example ids of the entries.
        query_ids: (B,) int example ids of the queries (-1 = unknown).

    Returns:
        ``(labels, confidence)``: (B,) int32 pseudo-labels (-1 when no valid
        entry exists) and (B,) float fraction of votes for the winner.
    """

    def __init__(self, num_classes, k=1, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an int >= 2; got {num_classes!r}.")
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"k (knn_k) must be a positive int; got {k!r}.")
        self.num_classes = num_classes
        self.k = k
        self.built = True

    def call(self, queries, keys, key_labels, key_ids, query_ids):
        if keys.shape[1] is not None and self.k > keys.shape[1]:
            raise ValueError(
                f"knn_k={self.k} is larger than the queue ({keys.shape[1]} slots)."
            )
        sims = ops.einsum("vbd,wqd->vwbq", queries, keys)
        invalid = ops.logical_or(
            ops.less(key_labels, 0)[None, :],
            ops.logical_and(
                ops.equal(key_ids[None, :], query_ids[:, None]),
                ops.greater_equal(query_ids, 0)[:, None],
            ),
        )  # (B, Q)
        sims = ops.where(invalid[None, None], _INVALID, sims)
        values, indices = ops.top_k(sims, self.k)  # (Vq, Vk, B, k)
        valid = ops.greater(values, _INVALID + 1.0)
        labels = ops.take(key_labels, indices)
        onehot = ops.one_hot(ops.maximum(labels, 0), self.num_classes, dtype=sims.dtype)
        onehot = onehot * ops.cast(valid, sims.dtype)[..., None]
        counts = ops.sum(onehot, axis=(0, 1, 3))  # (B, C)
        similarity = ops.sum(onehot * ((values + 1.0) / 2.0)[..., None], axis=(0, 1, 3))
        num_votes = queries.shape[0] * keys.shape[0] * self.k
        score = counts + similarity / (num_votes + 1.0)
        total = ops.sum(counts, axis=-1)
        labels_out = ops.where(
            total > 0, ops.cast(ops.argmax(score, axis=-1), "int32"), -1
        )
        confidence = ops.max(counts, axis=-1) / ops.maximum(total, 1.0)
        return labels_out, confidence

    def get_config(self):
        config = super().get_config()
        config.update(num_classes=self.num_classes, k=self.k)
        return config

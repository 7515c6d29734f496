"""Random draws of negatives (from the batch) and semantic positives (from the queue)."""

import keras
from keras import ops


def sample_negative_indices(batch_size, num_negatives, seed):
    """N distinct other examples per example, uniformly without replacement.

    Args:
        batch_size: B (static).
        num_negatives: N, at most B - 1.
        seed: a `keras.random.SeedGenerator` or int.

    Returns:
        (B, N) int32 indices; row b never contains b.
    """
    if num_negatives > batch_size - 1:
        raise ValueError(
            f"num_negatives={num_negatives} needs a batch of at least "
            f"{num_negatives + 1} examples; got a batch of {batch_size}."
        )
    scores = keras.random.uniform((batch_size, batch_size), seed=seed)
    scores = ops.where(ops.eye(batch_size, dtype="bool"), -1.0, scores)
    _, indices = ops.top_k(scores, num_negatives)
    return ops.cast(indices, "int32")


def sample_pair_negative_indices(num_views, num_large, batch_size, num_negatives, seed):
    """A fresh draw of N negatives per contrastive pair (i, j) and example.

    For each pair, N distinct offsets o_1..o_N are drawn uniformly from
    [1, B - 1] and example b gets the negatives (b + o_n) mod B: for every
    example this is a uniform draw of N distinct other examples (the batch
    order is random), at the cost of a (V, L, B - 1) draw instead of
    (V, L, B, B). The draw is symmetric in large views, (i, j) == (j, i), so
    the KL invariance compares distributions over the same candidates.

    Returns:
        (V, L, B, N) int32 indices; entry b never equals b.
    """
    if num_negatives > batch_size - 1:
        raise ValueError(
            f"num_negatives={num_negatives} needs a batch of at least "
            f"{num_negatives + 1} examples; got a batch of {batch_size}."
        )
    scores = keras.random.uniform((num_views, num_large, batch_size - 1), seed=seed)
    large = scores[:num_large]
    symmetric = ops.where(
        ops.triu(ops.ones((num_large, num_large)), 1)[:, :, None] > 0,
        large, ops.transpose(large, (1, 0, 2)))
    scores = ops.concatenate([symmetric, scores[num_large:]], axis=0)
    _, offsets = ops.top_k(scores, num_negatives)  # (V, L, N), in [0, B - 2]
    rows = ops.arange(batch_size, dtype="int32")[None, None, :, None]
    indices = (rows + ops.cast(offsets, "int32")[:, :, None, :] + 1) % batch_size
    return ops.cast(indices, "int32")


@keras.saving.register_keras_serializable(package="keras_semppl")
class SemanticPositiveSampler(keras.layers.Layer):
    """Draws P queue slots whose label equals the anchor's (SemPPL step 6).

    Slots are drawn uniformly without replacement among valid entries with the
    anchor's label and a different example id (MAE-CT_SemPPL: P=3).

    Args:
        num_positives: P.
        seed: int seed of the layer's `SeedGenerator`.

    Call args:
        key_labels: (Q,) int queue labels (-1 = empty).
        key_ids: (Q,) int queue example ids.
        anchor_labels: (B,) int (pseudo-)labels, -1 = none.
        anchor_ids: (B,) int example ids (-1 = unknown).

    Returns:
        ``(slots, mask)``: (B, P) int32 slot indices and (B, P) bool, false where
        fewer than P matching entries exist (or the anchor has no label).
    """

    def __init__(self, num_positives, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(num_positives, int) or num_positives < 1:
            raise ValueError(
                f"num_semantic_positives must be a positive int; got {num_positives!r}."
            )
        self.num_positives = num_positives
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    def call(self, key_labels, key_ids, anchor_labels, anchor_ids):
        size = key_labels.shape[0]
        if size is not None and self.num_positives > size:
            raise ValueError(
                f"num_semantic_positives={self.num_positives} is larger than the "
                f"queue ({size} slots)."
            )
        match = ops.logical_and(
            ops.equal(key_labels[None, :], anchor_labels[:, None]),
            ops.greater_equal(anchor_labels, 0)[:, None],
        )
        self_entry = ops.logical_and(
            ops.equal(key_ids[None, :], anchor_ids[:, None]),
            ops.greater_equal(anchor_ids, 0)[:, None],
        )
        match = ops.logical_and(match, ops.logical_not(self_entry))
        scores = keras.random.uniform(ops.shape(match), seed=self.seed_generator)
        scores = ops.where(match, scores, -1.0)
        values, slots = ops.top_k(scores, self.num_positives)
        return ops.cast(slots, "int32"), ops.greater_equal(values, 0.0)

    def get_config(self):
        config = super().get_config()
        config.update(num_positives=self.num_positives, seed=self.seed)
        return config

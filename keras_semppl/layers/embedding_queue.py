"""A FIFO ring buffer of labelled target embeddings, one per large view.

SemPPL (Bošnjak et al., 2023) keeps a queue of target projections of labelled
examples with their labels; the PyTorch reimplementation MAE-CT_SemPPL keeps
one queue per large view. Here the L per-view queues share one label, id and
pointer bookkeeping, because every step writes the same examples to all of
them: slot s of every view holds the same example.

Slots never written hold label -1 and are invalid. Embeddings start as random
*unit* vectors: unnormalised random memory banks made training collapse in
lightly (github.com/lightly-ai/lightly/issues/1009).
"""

import collections

import keras
from keras import ops

QueueContents = collections.namedtuple("QueueContents", ["embeddings", "labels", "ids"])


class _UnitNormal(keras.initializers.Initializer):
    """Random normal rows normalised to unit length along the last axis."""

    def __init__(self, seed=None):
        self.seed = seed

    def __call__(self, shape, dtype=None):
        x = keras.random.normal(shape, dtype=dtype, seed=self.seed)
        return x / ops.norm(x, axis=-1, keepdims=True)

    def get_config(self):
        return {"seed": self.seed}


@keras.saving.register_keras_serializable(package="keras_semppl")
class EmbeddingQueue(keras.layers.Layer):
    """Ring buffer holding (num_views, size, dim) embeddings with labels and ids.

    Args:
        num_views: number of per-view queues (SemPPL: one per large view).
        size: number of slots Q (MAE-CT_SemPPL: 2,560 at CIFAR scale).
        dim: embedding width D.

    State (non-trainable variables): ``embeddings`` (V, Q, D) float,
    ``labels`` (Q,) int32 (-1 = empty), ``ids`` (Q,) int32 (-1 = unknown),
    ``pointer`` () int32, the next slot to write.
    """

    def __init__(self, num_views, size, dim, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("num_views", num_views), ("size", size), ("dim", dim)):
            if not isinstance(value, int) or value <= 0:
                raise ValueError(
                    f"EmbeddingQueue {name} must be a positive int; got {value!r}."
                )
        self.num_views = num_views
        self.size = size
        self.dim = dim
        # Every replica must hold the same queue: take the first replica's
        # value rather than averaging (tf.distribute).
        common = dict(trainable=False, aggregation="only_first_replica")
        self.embeddings = self.add_weight(
            shape=(num_views, size, dim),
            initializer=_UnitNormal(),
            name="embeddings",
            **common,
        )
        self.labels = self.add_weight(
            shape=(size,),
            initializer=keras.initializers.Constant(-1),
            dtype="int32",
            name="labels",
            **common,
        )
        self.ids = self.add_weight(
            shape=(size,),
            initializer=keras.initializers.Constant(-1),
            dtype="int32",
            name="ids",
            **common,
        )
        self.pointer = self.add_weight(
            shape=(), initializer="zeros", dtype="int32", name="pointer", **common
        )
        self.built = True

    def read(self):
        """The current contents, as constants for the step.

        Returns:
            `QueueContents`: ``embeddings`` (V, Q, D) (gradient stopped),
            ``labels`` (Q,) int32 (-1 = empty slot), ``ids`` (Q,) int32.
        """
        return QueueContents(
            ops.stop_gradient(self.embeddings.value), self.labels.value, self.ids.value
        )

    def valid_mask(self):
        """(Q,) bool: slots that hold an entry."""
        return ops.greater_equal(self.labels.value, 0)

    def enqueue(self, embeddings, labels, ids, mask):
        """Writes the rows selected by ``mask`` at the pointer, in batch order.

        Args:
            embeddings: (V, B, D) normalised embeddings (gradient is stopped).
            labels: (B,) int labels.
            ids: (B,) int example ids.
            mask: (B,) bool, rows to write (the labelled examples).

        The write has a fixed shape (XLA-friendly): unselected rows scatter
        into a spare slot Q that is dropped.
        """
        batch = embeddings.shape[1]
        if batch is not None and batch > self.size:
            raise ValueError(
                f"The queue (size={self.size}) is smaller than what one step may "
                f"write ({batch} labelled examples of a batch of {batch}); use a "
                "queue_size >= the (global) batch size."
            )
        mask = ops.cast(mask, "int32")
        rank = ops.cumsum(mask) - 1
        slot = ops.mod(self.pointer.value + rank, self.size)
        slot = ops.where(mask > 0, slot, self.size)[:, None]  # (B, 1)
        written = ops.scatter(slot, mask, (self.size + 1,))[: self.size] > 0
        embeddings = ops.stop_gradient(ops.cast(embeddings, self.embeddings.dtype))

        def put(old, new):
            # (B, ...) rows -> (Q, ...) slots, keeping old where nothing was written.
            new_full = ops.scatter(slot, new, (self.size + 1,) + tuple(old.shape[1:]))
            written_b = ops.reshape(written, (self.size,) + (1,) * (len(old.shape) - 1))
            return ops.where(written_b, new_full[: self.size], old)

        by_slot = ops.transpose(self.embeddings.value, (1, 0, 2))  # (Q, V, D)
        by_slot = put(by_slot, ops.transpose(embeddings, (1, 0, 2)))
        self.embeddings.assign(ops.transpose(by_slot, (1, 0, 2)))
        self.labels.assign(put(self.labels.value, ops.cast(labels, "int32")))
        self.ids.assign(put(self.ids.value, ops.cast(ids, "int32")))
        self.pointer.assign(ops.mod(self.pointer.value + ops.sum(mask), self.size))

    def get_config(self):
        config = super().get_config()
        config.update(num_views=self.num_views, size=self.size, dim=self.dim)
        return config

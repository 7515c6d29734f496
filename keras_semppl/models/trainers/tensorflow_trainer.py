"""TensorFlow training step: GradientTape over the online weights.

Under a `tf.distribute` strategy (MirroredStrategy, MultiWorkerMirroredStrategy,
TPUStrategy) `train_step` runs once per replica on B / R examples. The model
asks two hooks for the global view: `_all_gather_replicas` (labelled target
projections before the queue write, labels and ids for the positive draw,
target projections as the negative pool) and `_this_replica_rows` (this
replica's rows of a global-batch tensor). The loss is divided by the number of
replicas before the gradient, because the optimizer sums gradients over
replicas (as Keras's own `compute_loss` does).
"""

import contextlib

import keras
import tensorflow as tf


def _replica_context():
    """The replica context when more than one replica runs in sync, else None."""
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return None
    return ctx


class TensorFlowSemPPLTrainer(keras.Model):
    """Thin TF stepping; subclasses provide `_forward`, `_after_step`."""

    def _no_grad(self):
        return contextlib.nullcontext()

    def _all_gather_replicas(self, x, axis=0):
        """Concatenates ``x`` of every replica along ``axis``, in replica order.

        `strategy.experimental_distribute_dataset` gives replica r the rows
        [r * B / R, (r + 1) * B / R) of the global batch, so the result is the
        global batch in its original order.
        """
        ctx = _replica_context()
        if ctx is None:
            return x
        gathered = ctx.all_gather(x, axis=axis)
        # all_gather loses the static size of `axis`; SemPPL needs it.
        shape = x.shape.as_list()
        if shape[axis] is not None:
            shape[axis] *= ctx.num_replicas_in_sync
        gathered.set_shape(shape)
        return gathered

    def _this_replica_rows(self, x):
        """Rows of a (B_global, ...) tensor that belong to this replica."""
        ctx = _replica_context()
        if ctx is None:
            return x
        rows = x.shape[0] // ctx.num_replicas_in_sync
        start = tf.cast(ctx.replica_id_in_sync_group, "int32") * rows
        return tf.gather(x, tf.range(start, start + rows), axis=0)

    def train_step(self, data):
        batch = self._parse(data)
        ctx = _replica_context()
        with tf.GradientTape() as tape:
            terms, monitors = self._forward(batch, training=True, update_queue=True)
            loss = terms["objective"]
            if ctx is not None:
                # The optimizer sums gradients over replicas: mean of the
                # per-replica means = the global mean for equal shards.
                loss = loss / ctx.num_replicas_in_sync
            loss = self.optimizer.scale_loss(loss)
        variables = self.trainable_variables
        grads = tape.gradient(loss, variables)
        self.optimizer.apply(grads, variables)
        return self._after_step(terms, monitors, update_target=True)

    def test_step(self, data):
        batch = self._parse(data)
        terms, monitors = self._forward(batch, training=False, update_queue=False)
        return self._after_step(terms, monitors, update_target=False)

"""Keras' TensorFlow `fit` under `MultiWorkerMirroredStrategy`: the two fixes it needs.

Keras 3 (through at least 3.15.1) fails to `fit` under a multi-worker
`tf.distribute.MultiWorkerMirroredStrategy` in two places of its TensorFlow
trainer (keras-team/keras#20585, tensorflow/tensorflow#72388):

1. ``_maybe_symbolic_build`` builds the model from the first batch of the
   distributed iterator; with one replica per worker the batch is a mix of
   ``PerReplica`` values and tensors, which it passes on as they are
   (``Attempt to convert a value (PerReplica...)``). Fix: build from this
   worker's first local replica (only shapes matter to the build).
2. ``reduce_per_replica`` averages every logged value with
   ``strategy.reduce("MEAN", v, axis=0)``, which fails on scalar metrics
   (``Invalid reduction dimension 0``). Fix: reduce scalars with ``axis=None``.

`apply()` installs both on the Keras versions listed in ``AFFECTED`` only
(a test fails when a newer Keras is installed, to re-check upstream). It
changes nothing outside a multi-worker strategy.
"""

import keras

#: Keras versions whose TensorFlow trainer needs the fixes (checked by hand).
AFFECTED = ("3.15.1",)

_applied = False


def needed(version=None):
    """True when Keras ``version`` (default: the installed one) needs the fixes."""
    return (version or keras.__version__) in AFFECTED


def apply():
    """Installs the fixes when the installed Keras needs them; returns whether it did."""
    global _applied
    if _applied or not needed() or keras.backend.backend() != "tensorflow":
        return _applied
    import tensorflow as tf
    from keras.src.backend.tensorflow import trainer as tf_trainer

    original_reduce = tf_trainer.reduce_per_replica
    original_build = tf_trainer.TensorFlowTrainer._maybe_symbolic_build

    def multi_worker(strategy):
        return tf_trainer._collective_all_reduce_multi_worker(strategy)

    def reduce_per_replica(values, strategy, reduction):
        if not multi_worker(strategy) or reduction not in ("auto", "mean"):
            return original_reduce(values, strategy, reduction)

        def reduce(v):
            if isinstance(v, tf.distribute.DistributedValues):
                rank = strategy.experimental_local_results(v)[0].shape.rank
            else:
                rank = v.shape.rank
            return strategy.reduce("MEAN", v, axis=None if rank == 0 else 0)

        return tf.nest.map_structure(reduce, values)

    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = self._distribute_strategy
        if strategy is None or not multi_worker(strategy) or iterator is None:
            return original_build(self, iterator=iterator, data_batch=data_batch)
        for _, _, it in iterator:
            batch = next(it)
            break
        else:
            return None
        local = tf.nest.map_structure(
            lambda x: strategy.experimental_local_results(x)[0]
            if isinstance(x, tf.distribute.DistributedValues) else x, batch)
        with strategy.scope():
            self._symbolic_build(data_batch=local)
        return None

    tf_trainer.reduce_per_replica = reduce_per_replica
    tf_trainer.TensorFlowTrainer._maybe_symbolic_build = maybe_symbolic_build
    _applied = True
    return True


def distribute_global_batches(strategy, examples, global_batch_size):
    """A `tf.distribute.DistributedDataset` of ``examples`` in global batches.

    Replica r of R gets rows [r * b, (r + 1) * b) of every global batch,
    b = global_batch_size / R, with a static batch size (SemPPL needs one;
    the strategy's own rebatching of a batched dataset loses it). Each
    worker reads only its replicas' rows. Pass it to `fit` as it is.

    Args:
        strategy: a `tf.distribute` strategy (several workers or one).
        examples: an unbatched, repeated (infinite) `tf.data.Dataset` in
            the order one device would batch it: with a finite one, the
            strategy allows a partial last batch and the batch size is no
            longer static; give `fit` a ``steps_per_epoch``.
        global_batch_size: B, a multiple of ``strategy.num_replicas_in_sync``.
    """
    import tensorflow as tf

    replicas = strategy.num_replicas_in_sync
    if global_batch_size % replicas:
        raise ValueError(f"global_batch_size {global_batch_size} must be a multiple of the "
                         f"{replicas} replicas.")
    per_replica = global_batch_size // replicas

    def worker_dataset(context):
        local = replicas // context.num_input_pipelines  # replicas of this worker
        first = context.input_pipeline_id * local
        # (R, b, ...) per global batch -> this worker's (L, b, ...) -> L batches.
        groups = examples.batch(per_replica, drop_remainder=True).batch(
            replicas, drop_remainder=True)
        mine = groups.map(lambda g: tf.nest.map_structure(lambda t: t[first:first + local], g))
        return mine.unbatch()

    return strategy.distribute_datasets_from_function(worker_dataset)

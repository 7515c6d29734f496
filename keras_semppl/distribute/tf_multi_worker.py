"""Keras' TensorFlow `fit` under `MultiWorkerMirroredStrategy`: the two fixes it needs.

Keras 3 (through at least 3.15.1) fails to `fit` under a multi-worker
`tf.distribute.MultiWorkerMirroredStrategy` in two places of its TensorFlow
trainer (keras-team/keras#20585, tensorflow/tensorflow#72388):

1. ``_maybe_symbolic_build`` builds the model from the first batch of the
   distributed iterator; with one replica per worker the batch is a mix of
   ``PerReplica`` values and tensors, which it passes on as they are
   (``Attempt to convert a value (PerReplica...)``). Fix: build from zeros
   shaped as this worker's first local replica's batch (only shapes matter
   to the build). Not iterating also keeps the data order: ``fit`` then
   starts a new iterator, and a dataset that reshuffles on every iteration
   would train on its second shuffle, unlike a run without a strategy.
2. ``reduce_per_replica`` averages every logged value with
   ``strategy.reduce("MEAN", v, axis=0)``, which fails on scalar metrics
   (``Invalid reduction dimension 0``). Fix: reduce scalars with ``axis=None``.

`apply()` installs both on the Keras versions listed in ``AFFECTED`` only
(a test fails when a newer Keras is installed, to re-check upstream). It
changes nothing outside a multi-worker strategy.

`strategy()` makes the program's one strategy (TensorFlow configures its
collectives once) and records the worker's place for
`keras_semppl.distribute.processes`; `shard_global_batches` feeds it.
"""

import re

import keras

_strategy = None

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

    def local_spec(spec):  # a spec of one local replica's value
        specs = getattr(spec, "_value_specs", None)
        return specs[0] if specs else spec

    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = self._distribute_strategy
        if strategy is None or not multi_worker(strategy) or iterator is None:
            return original_build(self, iterator=iterator, data_batch=data_batch)
        specs = tf.nest.map_structure(local_spec, iterator._distributed_dataset.element_spec)
        if all(s.shape.is_fully_defined() for s in tf.nest.flatten(specs)):
            local = tf.nest.map_structure(lambda s: tf.zeros(s.shape, s.dtype), specs)
        else:  # no static shape: build from the first batch, as Keras does
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


def strategy():
    """This program's `MultiWorkerMirroredStrategy` (made on the first call).

    Reads TF_CONFIG, joins the cluster (waiting for every worker) and records
    this worker with `processes.set_tf_worker`: the chief (task "chief", or
    worker 0 when there is none) is process 0. A worker that dies or stops
    answering makes the others' next collective fail (TensorFlow's
    coordination service: a closed connection at once, missed heartbeats
    within seconds) instead of waiting forever.
    """
    global _strategy
    if _strategy is None:
        import tensorflow as tf

        from keras_semppl.distribute import processes

        made = tf.distribute.MultiWorkerMirroredStrategy()
        resolver = made.cluster_resolver
        cluster = resolver.cluster_spec().as_dict() if resolver is not None else {}
        chiefs = len(cluster.get("chief", ()))
        count = chiefs + len(cluster.get("worker", ()))
        if count > 1:
            task_type, task_id = resolver.task_type, int(resolver.task_id or 0)
            index = task_id if task_type == "chief" else chiefs + task_id
            processes.set_tf_worker(index, count)
        _strategy = made
    return _strategy


def shard_global_batches(strategy, batches, global_batch_size):
    """A `tf.distribute.DistributedDataset` of a dataset already in global batches.

    Replica r of R gets rows [r * b, (r + 1) * b) of every global batch,
    b = global_batch_size / R, with a static batch size; each worker keeps
    only its replicas' rows (every worker builds the whole global batch, as
    Keras' per-process sharding on JAX does).

    Args:
        strategy: a `tf.distribute` strategy (several workers or one).
        batches: a `tf.data.Dataset` of nested tensors whose first axis is
            ``global_batch_size`` (static); infinite, or give `fit` a
            ``steps_per_epoch`` no larger than its length.
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
        first = context.input_pipeline_id * local * per_replica

        def mine(batch):  # (B, ...) -> this worker's (L, b, ...)
            return tf.nest.map_structure(
                lambda t: tf.reshape(t[first:first + local * per_replica],
                                     [local, per_replica, *t.shape[1:]]), batch)

        return batches.map(mine).unbatch()

    return strategy.distribute_datasets_from_function(worker_dataset)


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
    return shard_global_batches(
        strategy, examples.batch(global_batch_size, drop_remainder=True), global_batch_size)


#: TensorFlow errors raised in a worker whose peer died or stopped answering.
_LOST = ("UnavailableError", "DeadlineExceededError", "CancelledError", "AbortedError")


def lost_worker_message(error):
    """One line for an error raised because another worker was lost, else None."""
    if type(error).__name__ not in _LOST:
        return None
    text = re.sub(r"\{\{[^}]*\}\}", "", str(error))  # TensorFlow's node tags
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    cause = next((line for line in lines if "aborted" in line.lower()), lines[-1] if lines
                 else "")
    return (f"a worker of the TensorFlow job was lost ({type(error).__name__}: {cause}); "
            "this worker stopped too. Restart every worker's command (with "
            "--checkpoint-dir the job resumes from its latest checkpoint).")

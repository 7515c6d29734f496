"""Replica helpers for code that runs inside a training step.

Under a `tf.distribute` strategy (MirroredStrategy, MultiWorkerMirroredStrategy,
TPUStrategy), and in a training step of torch's data-parallel `fit` over R
processes (`keras_semppl.distribute.torch_processes`), the step runs once per
replica on B / R examples of the global batch. Everywhere else (one device;
JAX's `keras.distribution.DataParallel`, whose step sees the global batch and
lets XLA shard it) there is one replica and these helpers are identities.

    all_gather(x, axis)      this replica's x -> every replica's, concatenated
    this_replica_rows(x)     rows of a global-batch tensor that are this replica's
    num_replicas_in_sync()   R (1 outside a multi-replica step)
    global_moments(x, axes)  BatchNorm's mean and variance over the global batch
"""

import keras


def _tf_replica_context():
    """The TF replica context when more than one replica runs in sync, else None."""
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return None
    return ctx


def _torch_processes():
    """`torch_processes` inside a torch data-parallel training step, else None."""
    if keras.backend.backend() != "torch":
        return None
    from keras_semppl.distribute import torch_processes

    return torch_processes if torch_processes.step_world_size() > 1 else None


def num_replicas_in_sync():
    """R, the replicas that each run the step on B / R examples (1 by default)."""
    torch_step = _torch_processes()
    if torch_step is not None:
        return torch_step.step_world_size()
    ctx = _tf_replica_context()
    return 1 if ctx is None else ctx.num_replicas_in_sync


def all_gather(x, axis=0):
    """Concatenates ``x`` of every replica along ``axis``, in replica order.

    `strategy.experimental_distribute_dataset` gives replica r the rows
    [r * B / R, (r + 1) * B / R) of the global batch, so the result is the
    global batch in its original order (torch's data-parallel `fit` shards
    so too). The static size of ``axis`` is kept. On torch the result carries
    no gradient (the step gathers target projections, labels and ids).
    """
    torch_step = _torch_processes()
    if torch_step is not None:
        return torch_step.all_gather(x, axis)
    ctx = _tf_replica_context()
    if ctx is None:
        return x
    if not getattr(x, "device", "x"):
        # MultiWorkerMirroredStrategy gathers to the value's device, so it
        # needs one (a graph tensor made in the step has none).
        import tensorflow as tf

        local = ctx.strategy.extended.worker_devices  # this worker's, in replica order
        index = 0 if len(local) == 1 else tf.get_static_value(ctx.replica_id_in_sync_group)
        if index is not None:
            with tf.device(local[int(index) % len(local)]):
                x = tf.identity(x)
    gathered = ctx.all_gather(x, axis=axis)
    # all_gather loses the static size of `axis`; shapes downstream need it.
    shape = x.shape.as_list()
    if shape[axis] is not None:
        shape[axis] *= ctx.num_replicas_in_sync
    gathered.set_shape(shape)
    return gathered


def this_replica_rows(x):
    """Rows of a (B_global, ...) tensor that belong to this replica: (B_global / R, ...)."""
    torch_step = _torch_processes()
    if torch_step is not None:
        rows = x.shape[0] // torch_step.step_world_size()
        return x[torch_step.step_rank() * rows:(torch_step.step_rank() + 1) * rows]
    ctx = _tf_replica_context()
    if ctx is None:
        return x
    import tensorflow as tf

    rows = x.shape[0] // ctx.num_replicas_in_sync
    start = tf.cast(ctx.replica_id_in_sync_group, "int32") * rows
    return tf.gather(x, tf.range(start, start + rows), axis=0)


def global_moments(x, axes):
    """Mean and (biased) variance of ``x`` over ``axes`` and every torch replica.

    BatchNorm with ``synchronized=True`` on torch: one differentiable
    all-reduce of the per-replica sums of x and x ** 2 (the gradient of
    every replica's loss reaches every replica's rows). With one replica
    these are the local moments.

    Args:
        x: (B, ..., C) float; axes: the reduction axes (those of B and the
            spatial dimensions).
    Returns:
        ``(mean, variance)``, each of x's shape without ``axes``.
    """
    from keras import ops

    count = 1
    for axis in axes:
        count *= x.shape[axis]
    sums = ops.stack([ops.sum(x, axis=axes), ops.sum(ops.square(x), axis=axes)])
    torch_step = _torch_processes()
    if torch_step is not None:
        sums = torch_step.all_reduce_sum(sums)
        count *= torch_step.step_world_size()
    mean = sums[0] / count
    return mean, ops.maximum(sums[1] / count - ops.square(mean), 0.0)

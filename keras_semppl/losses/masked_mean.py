"""The masked mean shared by every loss term."""

from keras import ops

from keras_semppl.distribute import replicas


def masked_mean(values, mask=None):
    """Mean of ``values`` over the entries where ``mask`` is set.

    Args:
        values: (...) float tensor.
        mask: optional boolean, broadcastable to ``values.shape``.

    Returns:
        Scalar; 0 when the mask selects nothing. Masked entries are replaced
        (`where`, not a product), so a NaN or inf there never leaks in.
        Inside a step of R TensorFlow replicas the count is the global one,
        divided by R: the replicas' losses, averaged, are the global batch's
        mean even when their rows hold unequal numbers of masked entries.
    """
    if mask is None:
        return ops.mean(values)
    mask = ops.broadcast_to(mask, ops.shape(values))
    total = ops.sum(ops.where(mask, values, 0.0))
    count = ops.sum(ops.cast(mask, values.dtype))
    num_replicas = replicas.num_replicas_in_sync()
    if num_replicas > 1:
        count = ops.sum(replicas.all_gather(ops.reshape(count, (1,))))
        return total / (ops.maximum(count, 1.0) / num_replicas)
    return total / ops.maximum(count, 1.0)

"""The masked mean shared by every loss term."""

from keras import ops


def masked_mean(values, mask=None):
    """Mean of ``values`` over the entries where ``mask`` is set.

    Args:
        values: (...) float tensor.
        mask: optional boolean, broadcastable to ``values.shape``.

    Returns:
        Scalar; 0 when the mask selects nothing. Masked entries are replaced
        (`where`, not a product), so a NaN or inf there never leaks in.
    """
    if mask is None:
        return ops.mean(values)
    mask = ops.broadcast_to(mask, ops.shape(values))
    total = ops.sum(ops.where(mask, values, 0.0))
    return total / ops.maximum(ops.sum(ops.cast(mask, values.dtype)), 1.0)

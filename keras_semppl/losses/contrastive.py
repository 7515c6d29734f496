"""InfoNCE with sampled negatives (ReLICv2 / SemPPL form).

For an anchor ``q`` (an online prediction), one positive ``k+`` and N sampled
negatives ``k-_n`` (target projections, all L2-normalised)::

    logits = [q.k+, q.k-_1, ..., q.k-_N] / temperature
    loss   = -log softmax(logits)[0]

Sources: SemPPL (Bošnjak et al., ICLR 2023) via ReLICv2 (Tomasev et al.,
2022): a few sampled negatives (10) instead of the whole batch.
"""

from keras import ops

from keras_semppl.losses.masked_mean import masked_mean


def contrastive_logits(anchors, positives, negatives, temperature):
    """Logits with the positive in column 0.

    Args:
        anchors: (..., B, D) normalised anchors.
        positives: (..., B, D) normalised positives, one per anchor.
        negatives: (..., B, N, D) normalised negatives per anchor.
        temperature: positive float.

    Returns:
        (..., B, 1 + N) logits.
    """
    pos = ops.sum(anchors * positives, axis=-1, keepdims=True)
    neg = ops.sum(ops.expand_dims(anchors, -2) * negatives, axis=-1)
    return ops.concatenate([pos, neg], axis=-1) / temperature


def masked_infonce(logits, mask=None):
    """Mean of ``-log softmax(logits)[..., 0]`` over the entries where mask is set.

    Args:
        logits: (..., K) logits, positive in column 0.
        mask: optional boolean, broadcastable to ``logits.shape[:-1]``.

    Returns:
        Scalar; 0 when the mask selects nothing.
    """
    return masked_mean(infonce_per_row(logits), mask)


def infonce_per_row(logits):
    """``-log softmax(logits)[..., 0]``: (..., K) -> (...)."""
    return -ops.log_softmax(logits, axis=-1)[..., 0]

"""InfoNCE with sampled negatives (ReLICv2 / SemPPL form).

For an anchor ``q`` (an online prediction), one positive ``k+`` and N sampled
negatives ``k-_n`` (target projections, all L2-normalised)::

    logits = [q.k+, q.k-_1, ..., q.k-_N] / temperature
    loss   = -log softmax(logits)[0]

Sources: SemPPL (Bošnjak et al., ICLR 2023) via ReLICv2 (Tomasev et al.,
2022): a few sampled negatives (10) instead of the whole batch.
"""

import math

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


def trusted_infonce_per_row(logits, trust):
    """InfoNCE of a positive that is right only with probability ``trust``.

    ``-log(kappa q_0 + (1 - kappa) / K)`` with ``q = softmax(logits)`` over
    the K = 1 + N candidates: the likelihood of the observed positive under
    the noise model "with probability kappa a same-class draw, else a draw
    like any other candidate" (forward loss correction, Patrini et al., CVPR
    2017, applied to the positive's slot). kappa = 1 is InfoNCE; kappa = 0
    is the constant ln K (no gradient). A wrong positive costs at most
    ``-ln(1 - kappa)`` more than at collapse, and its gradient vanishes once
    the model ranks it like a negative, so it cannot keep pulling classes
    together; under the noise model the expected loss has the noise-free
    minimiser.

    Args:
        logits: (..., K) logits, positive in column 0.
        trust: kappa in [0, 1], broadcastable to ``logits.shape[:-1]``.

    Returns:
        (...) per-row losses.
    """
    trust = ops.clip(ops.cast(trust, logits.dtype), 0.0, 1.0)
    log_q0 = ops.log_softmax(logits, axis=-1)[..., 0]
    num = logits.shape[-1]
    tiny = 1e-12  # keeps both logs finite; at kappa = 1 the exact InfoNCE is taken
    right = ops.log(ops.maximum(trust, tiny)) + log_q0
    wrong = ops.log(ops.maximum(1.0 - trust, tiny)) - math.log(num)
    return ops.where(trust >= 1.0, -log_q0, -ops.logaddexp(right, wrong))

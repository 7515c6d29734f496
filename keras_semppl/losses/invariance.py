"""ReLIC's invariance penalty: KL between similarity distributions of two views.

ReLIC (Mitrovic et al., ICLR 2021, eq. 3) asks that the distribution over
candidates ``p^{do(a)}(y | x) = softmax_y(sim(f(x^a), g(x_y^{a'})) / tau)`` be
the same whatever augmentation pair produced it. With ``p`` from one ordered
pair of views (i, j) and ``q`` from the swapped pair (j, i), over the same
candidate examples, the penalty is ``KL(stop_gradient(q) || p)``; summing over
ordered pairs gives each side its gradient once (ReLICv2 style).
"""

from keras import ops

from keras_semppl.losses.masked_mean import masked_mean


def masked_kl_invariance(logits_p, logits_q, mask=None):
    """Mean of ``KL(sg(softmax(logits_q)) || softmax(logits_p))`` over masked rows.

    Args:
        logits_p: (..., K) logits that receive gradients.
        logits_q: (..., K) logits of the swapped view pair (gradient stopped).
        mask: optional boolean, broadcastable to ``logits_p.shape[:-1]``.

    Returns:
        Scalar; 0 when the mask selects nothing.
    """
    log_q = ops.stop_gradient(ops.log_softmax(logits_q, axis=-1))
    log_p = ops.log_softmax(logits_p, axis=-1)
    return masked_mean(ops.sum(ops.exp(log_q) * (log_q - log_p), axis=-1), mask)

"""torch's fused BatchNorm kernel (`torch.native_batch_norm`), for `BatchNormalization`.

One oneDNN kernel forward and one backward, in place of Keras' moments and
elementwise passes. Half-precision inputs (bfloat16, float16) stay in their
dtype with float32 statistics and affine parameters, as under
`torch.autocast`.
"""

import torch


def supports(ndim, axis):
    """Any channel axis of a rank >= 2 input (moved to dimension 1 as a view)."""
    return ndim >= 2 and 0 < axis < ndim


def batch_norm(x, gamma, beta, mean, variance, epsilon, training, axis):
    """Normalises ``x`` over every dimension but ``axis``.

    torch's kernel wants the channels in dimension 1. For (B, H, W, C) maps
    `movedim` returns a view with channels_last strides, which the kernel
    reads as it is, and the output is moved back the same way: no copies.

    Args:
        x: (B, ..., C, ...) tensor, channels in ``axis``.
        gamma, beta: (C,) float32 tensors, or None (no scale / no offset).
        mean, variance: (C,) moving statistics, used when not training.
        epsilon: added to the variance.
        training: normalise with the batch's own statistics.
        axis: the channel axis, non-negative.

    Returns:
        ``(y, batch_mean, batch_variance)``: ``y`` like ``x``; in training the
        (C,) float32 batch mean and *biased* variance (Keras' moving-average
        rule; torch's own running variance would be unbiased), else Nones.
    """
    x = torch.movedim(x, axis, 1)
    if not training:
        y = torch.nn.functional.batch_norm(
            x, mean, variance, gamma, beta, training=False, momentum=0.0, eps=epsilon)
        return torch.movedim(y, 1, axis), None, None
    y, batch_mean, inv_std = torch.native_batch_norm(
        x, gamma, beta, None, None, True, 0.0, epsilon)
    # inv_std = 1 / sqrt(var + epsilon), var biased (divided by the count).
    batch_variance = inv_std.detach().pow(-2) - epsilon
    return torch.movedim(y, 1, axis), batch_mean.detach(), batch_variance

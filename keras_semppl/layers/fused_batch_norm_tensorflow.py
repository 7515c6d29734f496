"""TensorFlow's fused BatchNorm kernel (`FusedBatchNormV3`), for `BatchNormalization`.

One kernel forward and one backward (oneDNN on CPU, cuDNN on GPU), in place
of Keras' moments and elementwise passes. Half-precision inputs stay in their
dtype with float32 statistics and affine parameters.
"""

import tensorflow as tf


def supports(ndim, axis):
    """The kernel normalises the last axis of NHWC inputs; other ranks are reshaped."""
    return ndim >= 2 and axis == ndim - 1


def batch_norm(x, gamma, beta, mean, variance, epsilon, training, axis):
    """Normalises ``x`` (..., C) over every axis but the last.

    Args:
        x: (..., C) tensor.
        gamma, beta: (C,) float32 tensors, or None (no scale / no offset).
        mean, variance: (C,) moving statistics, used when not training.
        epsilon: added to the variance.
        training: normalise with the batch's own statistics.
        axis: the channel axis, the last (see `supports`).

    Returns:
        ``(y, batch_mean, batch_variance)``: ``y`` like ``x``; in training the
        (C,) float32 batch mean and *biased* variance (the kernel returns the
        unbiased one, which is rescaled by (n - 1) / n), else Nones.
    """
    channels = x.shape[-1]
    shape = tf.shape(x)
    x4 = x if x.shape.rank == 4 else tf.reshape(x, (-1, 1, 1, channels))
    if gamma is None:
        gamma = tf.ones((channels,), tf.float32)
    if beta is None:
        beta = tf.zeros((channels,), tf.float32)
    if not training:
        y, _, _ = tf.compat.v1.nn.fused_batch_norm(
            x4, gamma, beta, mean=mean, variance=variance, epsilon=epsilon,
            is_training=False)
        return tf.reshape(y, shape), None, None
    y, batch_mean, unbiased = tf.compat.v1.nn.fused_batch_norm(
        x4, gamma, beta, epsilon=epsilon, is_training=True)
    count = tf.cast(tf.size(x4) // channels, tf.float32)
    # One value per channel: the unbiased variance is undefined, the biased one is 0.
    batch_variance = tf.where(count > 1.0, unbiased * ((count - 1.0) / count),
                              tf.zeros_like(unbiased))
    return (tf.reshape(y, shape), tf.stop_gradient(batch_mean),
            tf.stop_gradient(batch_variance))

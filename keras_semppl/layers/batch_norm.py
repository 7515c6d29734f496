"""Keras' BatchNormalization, computed by one fused kernel on torch and TensorFlow."""

import importlib

import keras

from keras_semppl.distribute import replicas

_KERNELS = {
    "torch": "keras_semppl.layers.fused_batch_norm_torch",
    "tensorflow": "keras_semppl.layers.fused_batch_norm_tensorflow",
}


def _kernel_module():
    name = _KERNELS.get(keras.backend.backend())
    return importlib.import_module(name) if name else None


@keras.saving.register_keras_serializable(package="keras_semppl")
class BatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` with a fused kernel where one exists.

    The same weights, config, outputs and moving-average rule as Keras'
    layer (``moving = momentum * moving + (1 - momentum) * batch``, with the
    batch's biased variance), so files and checkpoints move between the
    two. What differs is how it is computed:

    * torch: `torch.native_batch_norm`, one oneDNN/cuDNN kernel forward and
      backward, for any channel axis but the batch's;
    * TensorFlow: `FusedBatchNormV3`, for a channel axis that is the last;
    * JAX, and any other case (a mask, `synchronized=True` with several
      replicas, batch renormalisation, another axis, or ``fused=False``):
      Keras' own layer. XLA fuses Keras' elementwise passes by itself on JAX.

    ``synchronized=True`` (statistics of the global batch) works under a
    `tf.distribute` strategy, as in Keras, and also on torch, where Keras
    refuses it: in a training step of torch's data-parallel `fit`
    (`keras_semppl.distribute.torch_processes`) the statistics are
    all-reduced over the processes (`replicas.global_moments`); with one
    process it is the ordinary layer.

    Keras' layer upcasts bfloat16/float16 inputs to float32 and computes the
    statistics and every elementwise pass there; the fused kernels take the
    half-precision input as it is and keep their statistics and the affine
    parameters in float32 (as `torch.autocast` does for the peer).

    Args:
        fused: None (default) uses the fused kernel where it applies;
            False always uses Keras' layer. ``True`` is refused where no
            fused kernel applies, rather than quietly ignored.
        **kwargs: `keras.layers.BatchNormalization`'s arguments.

    Shapes: (B, ...) -> same.
    """

    def __init__(self, fused=None, synchronized=False, **kwargs):
        on_torch = keras.backend.backend() == "torch"
        # Keras refuses synchronized=True on torch; this layer implements it there.
        super().__init__(synchronized=bool(synchronized) and not on_torch, **kwargs)
        self.synchronized = bool(synchronized)
        if fused not in (None, True, False):
            raise ValueError(f"BatchNormalization fused must be None, True or False; got {fused!r}.")
        self.fused = fused
        # Set by `keras_semppl.callbacks.SynchronizedBatchNorm` for one run;
        # unlike `synchronized`, not saved (a saved model loads on any backend).
        self.sync_replicas = False


    def _syncs_replicas(self):
        """True when the statistics must be those of several replicas' batches."""
        if not (self.synchronized or self.sync_replicas):
            return False
        if keras.backend.backend() == "torch":
            return replicas.num_replicas_in_sync() > 1
        return True

    def _moments(self, inputs, mask):
        if keras.backend.backend() == "torch" and mask is None and (
                self.synchronized or self.sync_replicas):
            return replicas.global_moments(inputs, self._reduction_axes)
        if mask is None and self.sync_replicas and not self.synchronized:
            # `SynchronizedBatchNorm` (TensorFlow strategies): the global batch's.
            return keras.ops.moments(inputs, axes=self._reduction_axes, synchronized=True)
        return super()._moments(inputs, mask)

    def _fused_kernel(self, inputs, mask):
        if self.fused is False or mask is not None or self._syncs_replicas() or self.renorm \
                or self.sync_replicas:
            kernel = None
        else:
            kernel = _kernel_module()
            ndim = len(inputs.shape)
            if kernel is not None and not kernel.supports(ndim, self.axis % ndim):
                kernel = None
        if kernel is None and self.fused is True:
            raise ValueError(
                f"BatchNormalization(fused=True) '{self.name}': no fused kernel applies on "
                f"backend {keras.backend.backend()!r} with axis={self.axis}, "
                f"synchronized={self.synchronized}, renorm={self.renorm} and "
                f"{'a' if mask is not None else 'no'} mask. Use fused=None to fall back "
                "to Keras' computation.")
        return kernel

    def call(self, inputs, training=None, mask=None):
        kernel = self._fused_kernel(inputs, mask)
        if kernel is None:
            return super().call(inputs, training=training, mask=mask)
        convert = keras.ops.convert_to_tensor
        gamma = convert(self.gamma) if self.scale else None
        beta = convert(self.beta) if self.center else None
        moving_mean = convert(self.moving_mean)
        moving_variance = convert(self.moving_variance)
        in_training = bool(training) and self.trainable
        outputs, mean, variance = kernel.batch_norm(
            inputs, gamma, beta, moving_mean, moving_variance, self.epsilon, in_training,
            self.axis % len(inputs.shape))
        if in_training:
            momentum = self.momentum
            self.moving_mean.assign(moving_mean * momentum + mean * (1.0 - momentum))
            self.moving_variance.assign(
                moving_variance * momentum + variance * (1.0 - momentum))
        return keras.ops.cast(outputs, self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "fused": self.fused}

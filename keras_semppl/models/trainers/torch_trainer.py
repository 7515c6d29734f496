"""PyTorch gradient mechanics: autograd over the online weights.

Keras 3.15 has no torch distribution for `fit`, and SemPPL's global queue
needs an all-gather inside the step; a `torch.distributed` process group of
more than one process is therefore refused with an explicit error instead of
training N diverging copies of the model.
"""

import warnings

import keras
import torch

from keras_semppl.models.trainers.base import SemPPLTrainerBase

_DDP_MESSAGE = (
    "keras-semppl: multi-process torch training (torch.distributed with world "
    "size {world}) is not supported: Keras {version} has no torch distribution "
    "for fit(), and without an all-gather every process would train its own "
    "queue and weights. Train on one device with the torch backend, or use "
    "KERAS_BACKEND=jax (keras.distribution.DataParallel) or "
    "KERAS_BACKEND=tensorflow (tf.distribute strategies) for several devices. "
    "See the README, 'Distributed training'."
)


def check_no_torch_process_group():
    """Raises RuntimeError inside an initialised multi-process torch group."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        raise RuntimeError(
            _DDP_MESSAGE.format(world=dist.get_world_size(), version=keras.__version__)
        )


class TorchSemPPLTrainer(SemPPLTrainerBase):
    """torch: `backward()`, then `optimizer.apply` without a graph."""

    def _no_grad(self):
        return torch.no_grad()

    def fit(self, *args, **kwargs):
        check_no_torch_process_group()
        return super().fit(*args, **kwargs)

    def _should_torch_compile(self):
        """Never `torch.compile` the SemPPL step.

        Under `torch.compile` the step fails for some models (an in-place
        modification error in the backward pass, or an Inductor lowering
        error for the model `semppl train` builds). Files saved on JAX or
        TensorFlow store ``jit_compile=True``; on torch the step then runs
        eagerly instead, with a warning.
        """
        if self.jit_compile:
            warnings.warn(
                "keras-semppl: jit_compile=True is ignored on the torch backend "
                "(the SemPPL step runs eagerly there).", stacklevel=2)
            self.jit_compile = False
        return False

    def _descend(self, batch):
        self.zero_grad()
        step = self.compute_step(batch, training=True)
        self._loss_to_differentiate(step.objective).backward()
        variables = self.trainable_weights[:]
        grads = [v.value.grad for v in variables]
        with torch.no_grad():
            self.optimizer.apply(grads, variables)
        return step

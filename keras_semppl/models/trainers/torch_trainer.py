"""PyTorch training step: autograd over the online weights.

Keras 3.15 has no torch distribution for `fit`, and SemPPL's global queue
needs an all-gather inside the step; a `torch.distributed` process group of
more than one process is therefore refused with an explicit error (issue 5)
instead of training N diverging copies of the model.
"""

import keras
import torch

_DDP_MESSAGE = (
    "keras-semppl: multi-process torch training (torch.distributed with world "
    "size {world}) is not supported: Keras {version} has no torch distribution "
    "for fit(), and without an all-gather every process would train its own "
    "queue and weights. Train on one device with the torch backend, or use "
    "KERAS_BACKEND=jax (keras.distribution.DataParallel) or "
    "KERAS_BACKEND=tensorflow (tf.distribute strategies) for several devices. "
    "See the README, 'Distributed training' (issue 5)."
)


def check_no_torch_process_group():
    """Raises RuntimeError inside an initialised multi-process torch group."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        raise RuntimeError(
            _DDP_MESSAGE.format(world=dist.get_world_size(), version=keras.__version__)
        )


class TorchSemPPLTrainer(keras.Model):
    """Thin torch stepping; subclasses provide `_forward`, `_after_step`."""

    def _no_grad(self):
        # The target and the queue never need a graph: save its memory.
        return torch.no_grad()

    # One process, one replica: the batch is the global batch.
    def _all_gather_replicas(self, x, axis=0):
        return x

    def _this_replica_rows(self, x):
        return x

    def fit(self, *args, **kwargs):
        check_no_torch_process_group()
        return super().fit(*args, **kwargs)

    def train_step(self, data):
        batch = self._parse(data)
        self.zero_grad()
        terms, monitors = self._forward(batch, training=True, update_queue=True)
        self.optimizer.scale_loss(terms["objective"]).backward()
        variables = self.trainable_weights[:]
        grads = [v.value.grad for v in variables]
        with torch.no_grad():
            self.optimizer.apply(grads, variables)
            return self._after_step(terms, monitors, update_target=True)

    def test_step(self, data):
        batch = self._parse(data)
        with torch.no_grad():
            terms, monitors = self._forward(batch, training=False, update_queue=False)
            return self._after_step(terms, monitors, update_target=False)

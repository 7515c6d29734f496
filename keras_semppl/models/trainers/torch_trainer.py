"""PyTorch training step: autograd over the online weights."""

import keras
import torch


class TorchSemPPLTrainer(keras.Model):
    """Thin torch stepping; subclasses provide `_forward`, `_after_step`."""

    def _no_grad(self):
        # The target and the queue never need a graph: save its memory.
        return torch.no_grad()

    def train_step(self, data):
        batch = self._parse(data)
        self.zero_grad()
        terms, monitors = self._forward(batch, training=True, update_queue=True)
        self.optimizer.scale_loss(terms["loss"]).backward()
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

"""TensorFlow training step: GradientTape over the online weights."""

import contextlib

import keras
import tensorflow as tf


class TensorFlowSemPPLTrainer(keras.Model):
    """Thin TF stepping; subclasses provide `_forward`, `_after_step`."""

    def _no_grad(self):
        return contextlib.nullcontext()

    def train_step(self, data):
        batch = self._parse(data)
        with tf.GradientTape() as tape:
            terms, monitors = self._forward(batch, training=True, update_queue=True)
            loss = self.optimizer.scale_loss(terms["loss"])
        variables = self.trainable_variables
        grads = tape.gradient(loss, variables)
        self.optimizer.apply(grads, variables)
        return self._after_step(terms, monitors, update_target=True)

    def test_step(self, data):
        batch = self._parse(data)
        terms, monitors = self._forward(batch, training=False, update_queue=False)
        return self._after_step(terms, monitors, update_target=False)

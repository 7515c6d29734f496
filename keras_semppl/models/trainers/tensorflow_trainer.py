"""TensorFlow gradient mechanics: a GradientTape over the online weights.

Under a `tf.distribute` strategy (MirroredStrategy, MultiWorkerMirroredStrategy,
TPUStrategy) the step runs once per replica on B / R examples; the model asks
`keras_semppl.distribute.replicas` for the global view, and the shared
`_loss_to_differentiate` divides the loss by R before the gradient, because
the optimizer sums gradients over replicas.
"""

import tensorflow as tf

from keras_semppl.models.trainers.base import SemPPLTrainerBase


class TensorFlowSemPPLTrainer(SemPPLTrainerBase):
    """TensorFlow: `tf.GradientTape`, then `optimizer.apply`."""

    def _descend(self, batch):
        with tf.GradientTape() as tape:
            step = self.compute_step(batch, training=True)
            loss = self._loss_to_differentiate(step.objective)
        variables = self.trainable_variables
        grads = tape.gradient(loss, variables)
        self.optimizer.apply(grads, variables)
        return step

"""The training step, written once for every backend.

A backend trainer only moves gradients; the sequence lives here::

    train_step(data):                          test_step(data):
        batch = parse_batch(data)                  batch = parse_batch(data)
        step = <backend: compute_step under        with _no_grad():
                gradient recording, loss               step = compute_step(batch, False)
                scaled, optimizer.apply>           return finish_step(step, False)
        return finish_step(step, True)

The model (`keras_semppl.models.SemPPL`) implements the three methods this
base declares:

* ``parse_batch(data)`` -> `keras_semppl.batch.SemPPLBatch`;
* ``compute_step(batch, training)`` -> `StepOutputs`: the forward pass and
  the objective; it writes no variable of its own (BatchNorm statistics in
  training and the random draws aside);
* ``finish_step(step, training)`` -> logs: what follows the optimizer (the
  target EMA and the queue write, in training only) and the metric updates.

What a backend trainer overrides, all of it:

* every backend: ``_descend(batch)``, returning the step's `StepOutputs`
  after applying the optimizer to the gradient of
  ``_loss_to_differentiate(step.objective)``, which is the one place the
  loss is divided over replicas and scaled for mixed precision
  (``optimizer.scale_loss``, as Keras' own trainers do);
* ``_no_grad()``: a context in which no gradient is recorded (torch:
  ``torch.no_grad()``, which saves the graph's memory; elsewhere nothing to
  do, since JAX and TensorFlow differentiate only what they are asked to);
* JAX: ``train_step(state, data)`` and ``test_step(state, data)``, since
  Keras' JAX trainer calls the step as a pure function of the variables'
  values; they run the sequences below inside a `keras.StatelessScope`,
  which JAX's ``_descend`` relies on;
* torch: ``fit`` and ``train_step`` (data parallel over processes inside
  the scope of a torch ``data_parallel`` plan; a multi-process group is
  refused outside it) and ``_should_torch_compile`` (the step runs eagerly).
"""

import collections
import contextlib

import keras

from keras_semppl.distribute import replicas

#: What `compute_step` returns.
#:   objective: the scalar the trainers differentiate.
#:   terms: dict of scalar loss terms (for the logs).
#:   monitors: dict of per-example values for the metrics.
#:   queue_write: what the queue receives after the optimizer step (a tuple
#:       of tensors the model understands), or None.
StepOutputs = collections.namedtuple(
    "StepOutputs", ["objective", "terms", "monitors", "queue_write"]
)


class SemPPLTrainerBase(keras.Model):
    """The step sequence; subclasses add the backend's gradient mechanics."""

    # --------------------------------------------- implemented by the model
    def parse_batch(self, data):
        """What `fit` yields -> a validated `SemPPLBatch`."""
        raise NotImplementedError

    def compute_step(self, batch, training):
        """Forward pass and objective of one batch -> `StepOutputs`."""
        raise NotImplementedError

    def finish_step(self, step, training):
        """After the optimizer (training): target EMA, queue write; metrics -> logs."""
        raise NotImplementedError

    # ------------------------------------ implemented by the backend trainer
    def _descend(self, batch):
        """compute_step(batch, True), its gradient, optimizer.apply -> `StepOutputs`."""
        raise NotImplementedError

    def _no_grad(self):
        """A context that records no gradient (torch overrides it)."""
        return contextlib.nullcontext()

    # ------------------------------------------------------------ shared
    def _loss_to_differentiate(self, objective):
        """The objective as the gradient should see it.

        Under a `tf.distribute` strategy the optimizer sums the replicas'
        gradients (torch's data-parallel step sums them too): dividing by R makes the sum the gradient of the global
        mean (equal shards), as Keras' `compute_loss` does. Then the loss is
        scaled for a `LossScaleOptimizer` (mixed_float16); the optimizer
        unscales the gradients. Without loss scaling this is the identity.
        """
        count = replicas.num_replicas_in_sync()
        if count > 1:
            objective = objective / count
        return self.optimizer.scale_loss(objective)

    def _train_sequence(self, data):
        batch = self.parse_batch(data)
        step = self._descend(batch)
        with self._no_grad():
            return self.finish_step(step, training=True)

    def _test_sequence(self, data):
        batch = self.parse_batch(data)
        with self._no_grad():
            step = self.compute_step(batch, training=False)
            return self.finish_step(step, training=False)

    def train_step(self, data):
        return self._train_sequence(data)

    def test_step(self, data):
        return self._test_sequence(data)

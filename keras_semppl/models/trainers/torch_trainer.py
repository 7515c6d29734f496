"""PyTorch gradient mechanics: autograd over the online weights.

Keras 3.15 has no torch distribution for `fit`. Inside the scope of
`resolve_distribution("data_parallel")` (processes started by torchrun),
`fit` trains data-parallel through `keras_semppl.distribute.torch_processes`:
each process its rows of every global batch, the step a replica of R (the
model's all-gathers and the shared loss division by R apply), and the
gradients summed over the processes before the optimizer step. `fit` in a
group of several processes outside that scope is refused with an error
instead of training N diverging copies of the model.
"""

import warnings

import torch

from keras_semppl.data import global_batches
from keras_semppl.data.fit_inputs import is_in_memory
from keras_semppl.distribute import torch_processes
from keras_semppl.models.trainers.base import SemPPLTrainerBase


def _shard_inputs(engine, x, y, batch_size):
    """This process' rows of ``fit``'s global batches -> (x, y, local batch size)."""
    import tensorflow as tf

    r, count = engine.rank, engine.world_size
    if is_in_memory(x, y):
        return global_batches.shard_arrays(x, y, batch_size, r, count)
    if isinstance(x, tf.data.Dataset) and y is None:
        return global_batches.shard_dataset(x, r, count), None, batch_size
    raise ValueError(
        "Data-parallel fit on torch takes NumPy arrays (with batch_size = the global "
        "batch) or a tf.data.Dataset batched with the global batch size, which it "
        f"splits over the {count} processes; got x of type {type(x).__name__}.")


def _local_batch_norm_statistics(model):
    """Moving mean and variance of the BatchNorm layers that are not synchronised.

    Each process normalises its rows with their own statistics there, so
    their moving averages drift apart; the step replaces them by their mean
    over the processes (BatchNorm's ``synchronized=True`` avoids this: its
    statistics are the global batch's).
    """
    import keras

    return [v for layer in model._flatten_layers()
            if isinstance(layer, keras.layers.BatchNormalization)
            and not layer.synchronized and layer.trainable
            for v in (layer.moving_mean, layer.moving_variance)]


class TorchSemPPLTrainer(SemPPLTrainerBase):
    """torch: `backward()`, then `optimizer.apply` without a graph."""

    def _no_grad(self):
        return torch.no_grad()

    def fit(self, x=None, y=None, batch_size=None, **kwargs):
        engine = torch_processes.engine_for_fit()
        if engine is None:
            return super().fit(x, y, batch_size=batch_size, **kwargs)
        x, y, batch_size = _shard_inputs(engine, x, y, batch_size)
        # Every process starts from process 0's weights, queue and seeds.
        engine.broadcast_variables(self.variables)
        if self.optimizer is not None and self.optimizer.built:
            engine.broadcast_variables(self.optimizer.variables)
        with engine.fitting(averaged=_local_batch_norm_statistics(self)):
            return super().fit(x, y, batch_size=batch_size, **kwargs)

    def train_step(self, data):
        with torch_processes.replica_step() as engine:
            logs = super().train_step(data)
            if engine is not None:
                engine.after_step()
        return logs

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
        if torch_processes.step_world_size() > 1:
            torch_processes.sum_gradients(grads)
        with torch.no_grad():
            self.optimizer.apply(grads, variables)
        return step

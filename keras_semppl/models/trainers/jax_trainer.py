"""JAX training step: a pure function of the state, as the JAX trainer requires.

The model's stateful code (queue writes, BatchNorm statistics, EMA, metrics)
runs inside `keras.StatelessScope`s that map every variable to its value in
the state; the updated values are read back from the scope.
"""

import contextlib

import jax
import keras


def _read_back(scope, variables, old_values):
    new_values = []
    for variable, old in zip(variables, old_values):
        value = scope.get_current_value(variable)
        new_values.append(old if value is None else value)
    return new_values


class JAXSemPPLTrainer(keras.Model):
    """Thin JAX stepping; subclasses provide `_forward`, `_after_step`."""

    def _no_grad(self):
        return contextlib.nullcontext()

    # Under `keras.distribution.DataParallel` train_step already sees the
    # global batch (XLA shards it): nothing to gather, every row is ours.
    def _all_gather_replicas(self, x, axis=0):
        return x

    def _this_replica_rows(self, x):
        return x

    def _forward_stateless(self, trainable, non_trainable, batch, training, update_queue):
        mapping = list(zip(self.trainable_variables, trainable))
        mapping += list(zip(self.non_trainable_variables, non_trainable))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            terms, monitors = self._forward(batch, training=training, update_queue=update_queue)
        non_trainable = _read_back(scope, self.non_trainable_variables, non_trainable)
        return terms["objective"], (terms, monitors, non_trainable)

    def _after_step_stateless(self, state, variable_lists, terms, monitors, update_target):
        mapping = []
        for variables, values in zip(variable_lists, state):
            mapping += list(zip(variables, values))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            logs = self._after_step(terms, monitors, update_target=update_target)
        return logs, tuple(
            _read_back(scope, variables, values)
            for variables, values in zip(variable_lists, state)
        )

    def train_step(self, state, data):
        trainable, non_trainable, optimizer_vars, metrics_vars = state
        batch = self._parse(data)
        grad_fn = jax.value_and_grad(self._forward_stateless, has_aux=True)
        (_, (terms, monitors, non_trainable)), grads = grad_fn(
            trainable, non_trainable, batch, True, True
        )
        trainable, optimizer_vars = self.optimizer.stateless_apply(
            optimizer_vars, grads, trainable
        )
        variable_lists = (
            self.trainable_variables,
            self.non_trainable_variables,
            self.optimizer.variables,
            self.metrics_variables,
        )
        return self._after_step_stateless(
            (trainable, non_trainable, optimizer_vars, metrics_vars),
            variable_lists,
            terms,
            monitors,
            update_target=True,
        )

    def test_step(self, state, data):
        trainable, non_trainable, metrics_vars = state
        batch = self._parse(data)
        _, (terms, monitors, non_trainable) = self._forward_stateless(
            trainable, non_trainable, batch, False, False
        )
        variable_lists = (
            self.trainable_variables,
            self.non_trainable_variables,
            self.metrics_variables,
        )
        return self._after_step_stateless(
            (trainable, non_trainable, metrics_vars),
            variable_lists,
            terms,
            monitors,
            update_target=False,
        )

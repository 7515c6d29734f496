"""JAX gradient mechanics: the step as a pure function of the state.

Keras' JAX trainer passes every variable's value in and expects the new
values back. The shared sequence (`SemPPLTrainerBase`) runs inside a
`keras.StatelessScope` that maps every variable to its value in that state;
the new values are read back from the scope at the end. `_descend` takes the
gradient with `jax.value_and_grad` of a function of the trainable values
(the forward pass in a nested scope) and applies it with
`optimizer.stateless_apply`, as `keras/src/backend/jax/trainer.py` does.
"""

import jax
import keras

from keras_semppl.models.trainers.base import SemPPLTrainerBase


def _values(scope, variables, fallbacks=None):
    """The values of ``variables`` in ``scope``; where the scope holds none,
    ``fallbacks`` (one per variable) or else each variable's own value."""
    if fallbacks is None:
        fallbacks = [variable.value for variable in variables]
    out = []
    for variable, fallback in zip(variables, fallbacks):
        value = scope.get_current_value(variable)
        out.append(fallback if value is None else value)
    return out


class JAXSemPPLTrainer(SemPPLTrainerBase):
    """JAX: `jax.value_and_grad` and `optimizer.stateless_apply`."""

    def _descend(self, batch):
        # Runs inside train_step's scope (`_stateless`): `v.value` is the
        # value in the state Keras passed in.
        trainable = self.trainable_variables
        others = [v for v in self.non_trainable_variables]
        others += self.optimizer.variables + self.metrics_variables
        other_values = [v.value for v in others]

        def loss_fn(trainable_values):
            mapping = list(zip(trainable, trainable_values)) + list(zip(others, other_values))
            with keras.StatelessScope(state_mapping=mapping) as scope:
                step = self.compute_step(batch, training=True)
                loss = self._loss_to_differentiate(step.objective)
            return loss, (step, _values(scope, self.non_trainable_variables))

        grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
        (_, (step, non_trainable_values)), grads = grad_fn([v.value for v in trainable])
        # BatchNorm statistics and seed states written by the forward pass.
        for variable, value in zip(self.non_trainable_variables, non_trainable_values):
            variable.assign(value)
        new_trainable, new_optimizer = self.optimizer.stateless_apply(
            [v.value for v in self.optimizer.variables], grads, [v.value for v in trainable]
        )
        for variable, value in zip(trainable, new_trainable):
            variable.assign(value)
        for variable, value in zip(self.optimizer.variables, new_optimizer):
            variable.assign(value)
        return step

    def _stateless(self, sequence, variable_lists, state, data):
        mapping = []
        for variables, values in zip(variable_lists, state):
            mapping += list(zip(variables, values))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            logs = sequence(data)
        return logs, tuple(
            _values(scope, variables, values)
            for variables, values in zip(variable_lists, state)
        )

    def train_step(self, state, data):
        variable_lists = (
            self.trainable_variables,
            self.non_trainable_variables,
            self.optimizer.variables,
            self.metrics_variables,
        )
        return self._stateless(self._train_sequence, variable_lists, state, data)

    def test_step(self, state, data):
        variable_lists = (
            self.trainable_variables,
            self.non_trainable_variables,
            self.metrics_variables,
        )
        return self._stateless(self._test_sequence, variable_lists, state, data)


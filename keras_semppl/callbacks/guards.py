"""Callbacks that `SemPPL.fit` always adds: divergence and a dead learning rate.

The train step reports a bitmask of what went non-finite in it (the loss
terms, then the updated weights, the other float variables of the model and
the optimizer's: everything a checkpoint saves) as the log entry ``NONFINITE_KEY``;
`DivergenceGuard` removes that entry from the logs (so it never reaches the
progress bar or the History) and raises `DivergenceError` on the first step
where it is not zero. The check runs inside the compiled step on every
backend; only the raise is on the Python side.
"""

import warnings

import keras

#: The log entry the train step writes: sum of 2**i over non-finite checks i.
NONFINITE_KEY = "nonfinite"
#: The last three bits of the mask: everything a checkpoint saves besides the
#: loss terms: trainable weights, the model's other float variables (BatchNorm
#: moving statistics, the target network, the queue), the optimizer's.
WEIGHTS_CHECK = "weights"
STATISTICS_CHECK = "non-trainable state"
OPTIMIZER_CHECK = "optimizer state"
STATE_CHECKS = (WEIGHTS_CHECK, STATISTICS_CHECK, OPTIMIZER_CHECK)
_STATE_WORDS = {
    WEIGHTS_CHECK: "the updated weights",
    STATISTICS_CHECK: "the non-trainable state (BatchNorm moving statistics, target "
                      "network or queue)",
    OPTIMIZER_CHECK: "the optimizer state",
}


class DivergenceError(RuntimeError):
    """Training produced a NaN or inf loss term, weight or saved state.

    Attributes:
        step: the optimizer step that went non-finite (None if unknown).
        what: what went non-finite, in words.
    """

    def __init__(self, message, step=None, what=None):
        super().__init__(message)
        self.step = step
        self.what = what

    @classmethod
    def at(cls, step, epoch, batch, what, advice=None):
        """The error of optimizer ``step`` (1-based ``epoch`` and ``batch``)."""
        advice = advice or ("Lower the learning rate, check the inputs, or resume from an "
                            "earlier checkpoint.")
        return cls(f"Training diverged at optimizer step {step} (epoch {epoch}, batch {batch}): "
                   f"{what} became NaN or inf. {advice}", step=step, what=what)

    def in_run(self, steps_per_epoch, last_good):
        """This error as seen by a checkpointed run of ``steps_per_epoch`` steps an epoch.

        The epoch and batch come from the step (a resumed epoch's first batch
        is not batch 1), and the advice names ``last_good``, the newest
        checkpoint (all of which hold finite values), or says there is none.
        """
        if last_good is None:
            advice = ("There is no checkpoint yet (none is written from a non-finite state). "
                      "Lower the learning rate or check the inputs.")
        else:
            advice = (f"The newest checkpoint, {last_good!r}, holds finite values (no "
                      "checkpoint is written from a non-finite state). Lower the learning "
                      "rate or check the inputs.")
        if self.step is None or self.what is None:
            return DivergenceError(f"{self} {advice}", step=self.step, what=self.what)
        epoch, batch = divmod(self.step - 1, steps_per_epoch)
        return DivergenceError.at(self.step, epoch + 1, batch + 1, self.what, advice)


def is_float_variable(variable):
    return "float" in str(keras.backend.standardize_dtype(variable.dtype))


def state_finite_flags(model):
    """Boolean scalars, one per `STATE_CHECKS` entry: are all those values finite?

    Called inside the train step, after the optimizer update, the target EMA
    and the queue write: exactly what a checkpoint of this step would save.
    """
    ops = keras.ops
    groups = (model.trainable_variables,
              [v for v in model.non_trainable_variables if is_float_variable(v)],
              [v for v in model.optimizer.variables if is_float_variable(v)])
    flags = []
    for variables in groups:
        if not variables:
            flags.append(ops.convert_to_tensor(True))
            continue
        flags.append(ops.all(ops.stack([ops.all(ops.isfinite(v.value)) for v in variables])))
    return flags


def nonfinite_variables(model):
    """Paths of the float variables a checkpoint of ``model`` would save that hold
    NaN or inf (the model's, then its optimizer's), read on the host."""
    import numpy as np

    variables = list(model.variables)
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None:
        variables += list(optimizer.variables)
    bad, seen = [], set()
    for variable in variables:
        if id(variable) in seen or not is_float_variable(variable):
            continue
        seen.add(id(variable))
        if not np.isfinite(np.asarray(keras.ops.convert_to_numpy(variable),
                                      dtype="float32")).all():
            bad.append(variable.path)
    return bad


def decode_nonfinite(mask, names):
    """The names whose bits are set in ``mask`` (an int-valued float)."""
    mask = int(round(float(mask)))
    return [name for i, name in enumerate(names) if mask & (1 << i)]


class DivergenceGuard(keras.callbacks.Callback):
    """Stops `fit` with `DivergenceError` at the first non-finite step.

    Args:
        check_names: the names of the mask's bits, in order (the model's
            ``finite_check_names``).
    """

    def __init__(self, check_names):
        super().__init__()
        self.check_names = tuple(check_names)
        self._first_step = 0
        self._steps = 0
        self._epoch = 0

    def on_train_begin(self, logs=None):
        self._steps = 0
        self._first_step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1
        if logs is None or NONFINITE_KEY not in logs:
            return
        mask = logs.pop(NONFINITE_KEY)
        if mask:
            bad = decode_nonfinite(mask, self.check_names)
            terms = [n for n in bad if n not in STATE_CHECKS]
            parts = []
            if terms:
                parts.append(f"loss term(s) {', '.join(terms)}")
            parts += [_STATE_WORDS[n] for n in STATE_CHECKS if n in bad]
            step = self._first_step + self._steps
            raise DivergenceError.at(step, self._epoch + 1, batch + 1, " and ".join(parts))

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs.pop(NONFINITE_KEY, None)


class ZeroLearningRateWarning(keras.callbacks.Callback):
    """Warns when an epoch starts and ends with a learning rate of exactly 0.

    Typical cause: a second `fit` after a decay schedule has reached its end
    (the optimizer's step counter carries on from the first `fit`).
    """

    def on_epoch_begin(self, epoch, logs=None):
        self._start = _learning_rate(self.model)

    def on_epoch_end(self, epoch, logs=None):
        end = _learning_rate(self.model)
        if self._start == 0.0 and end == 0.0:
            step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
            warnings.warn(
                f"Epoch {epoch + 1} trained with a learning rate of 0 (optimizer step "
                f"{step}): the weights did not move. A learning-rate schedule continues "
                "from the optimizer's step count across fit() calls; give the schedule "
                "more steps, or compile with a new optimizer before fitting again.",
                stacklevel=2)


def _learning_rate(model):
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return None
    try:
        return float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    except (TypeError, ValueError):
        return None

"""Callbacks that `SemPPL.fit` always adds: divergence and a dead learning rate.

The train step reports a bitmask of what went non-finite in it (the loss
terms, then the updated weights) as the log entry ``NONFINITE_KEY``;
`DivergenceGuard` removes that entry from the logs (so it never reaches the
progress bar or the History) and raises `DivergenceError` on the first step
where it is not zero. The check runs inside the compiled step on every
backend; only the raise is on the Python side.
"""

import warnings

import keras

#: The log entry the train step writes: sum of 2**i over non-finite checks i.
NONFINITE_KEY = "nonfinite"
#: What bit i of the mask stands for; the last entry is the updated weights.
WEIGHTS_CHECK = "weights"


class DivergenceError(RuntimeError):
    """Training produced a NaN or inf loss term or weight."""


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
            terms = [n for n in bad if n != WEIGHTS_CHECK]
            parts = []
            if terms:
                parts.append(f"loss term(s) {', '.join(terms)}")
            if WEIGHTS_CHECK in bad:
                parts.append("the updated weights")
            step = self._first_step + self._steps
            raise DivergenceError(
                f"Training diverged at optimizer step {step} (epoch {self._epoch + 1}, "
                f"batch {batch + 1}): {' and '.join(parts)} became NaN or inf. Lower the "
                "learning rate, check the inputs, or resume from an earlier checkpoint.")

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

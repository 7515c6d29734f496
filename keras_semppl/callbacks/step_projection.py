"""`StepTimeProjection`: the run's training time, projected from measured steps.

After a few warm-up steps (compilation, autotuning, filling the input
pipeline), the callback times a window of steps on the hardware the run is
on, and prints once

    projected: 2048 steps x 0.1258 s = 4.29 min

where the step time is the mean over the window and the minutes are the
run's steps times that. With a budget it adds the budget, and a warning when
the projection exceeds it. Compilation and the warm-up steps' extra time are
not in the projection; neither is anything outside `fit`.
"""

import math
import time

import keras

from keras_semppl.arguments import number
from keras_semppl.arguments import optional_positive_int
from keras_semppl.arguments import positive_int


def projection_line(steps, step_seconds):
    """``"projected: N steps x S s = M min"``, M = N x S / 60 from S as printed."""
    shown = float(f"{step_seconds:.4g}")
    return f"projected: {steps} steps x {shown:.4g} s = {steps * shown / 60:.2f} min"


class StepTimeProjection(keras.callbacks.Callback):
    """Prints the projected training time once the step time is measured.

    Steps are counted across `fit` calls (a run split into one `fit` per
    epoch, as `keras_semppl.callbacks.fit_resumable` does, counts as one).
    The window is the steps ``warmup + 1 .. warmup + window`` with
    ``warmup = min(warmup_steps, max(1, total_steps // 2))`` and ``window =
    min(window_steps, total_steps - warmup)``, so that a short run still
    prints (a one-step run has nothing to time, and prints nothing).
    The step time is the time between the ends of step ``warmup`` and of the
    last step of the window, divided by the window's length; a pause between
    two `fit` calls inside the window is left out.

    Args:
        total_steps: optimizer steps of the whole run (N).
        budget_minutes: optional training budget; above it, a warning.
        steps_per_epoch: optional; with a budget, the warning says how many
            epochs would fit.
        budget_name: what the budget belongs to, for the messages.
        warmup_steps, window_steps: see above (defaults 5 and 20).
        clock: seconds as a float (default `time.perf_counter`).
        printer: where the lines go (default `print`).

    Attributes:
        projection: None until measured, then ``{"steps", "step_seconds",
            "minutes", "over_budget"}``.
    """

    def __init__(self, total_steps, budget_minutes=None, steps_per_epoch=None,
                 budget_name="training", warmup_steps=5, window_steps=20,
                 clock=time.perf_counter, printer=print):
        super().__init__()
        self.total_steps = positive_int("total_steps", total_steps)
        self.budget_minutes = (None if budget_minutes is None else
                               number("budget_minutes", budget_minutes, minimum=0.0,
                                      allow_minimum=False))
        self.steps_per_epoch = optional_positive_int("steps_per_epoch", steps_per_epoch)
        self.budget_name = str(budget_name)
        self.warmup = min(positive_int("warmup_steps", warmup_steps),
                          max(1, self.total_steps // 2))
        self.window = min(positive_int("window_steps", window_steps),
                          self.total_steps - self.warmup)
        self.clock = clock
        self.printer = printer
        self.projection = None
        self._done = 0  # steps finished, across fit calls
        self._timed = 0.0  # seconds of the window's steps so far
        self._last_end = None  # clock at the end of the previous step of this fit

    def on_train_begin(self, logs=None):
        self._last_end = None

    def on_train_batch_begin(self, batch, logs=None):
        if self._last_end is None and self._done >= self.warmup:
            # The first step of a new fit call inside the window: time it from
            # its own start, leaving out the pause between the two fits.
            self._last_end = self.clock()

    def on_train_batch_end(self, batch, logs=None):
        now = self.clock()
        self._done += 1
        if self.projection is not None or self.window < 1:
            return
        if self._done > self.warmup and self._last_end is not None:
            self._timed += now - self._last_end
        self._last_end = now
        if self._done == self.warmup + self.window:
            self._report(self._timed / self.window)

    def _report(self, step_seconds):
        minutes = self.total_steps * float(f"{step_seconds:.4g}") / 60
        over = self.budget_minutes is not None and minutes > self.budget_minutes
        self.projection = dict(steps=self.total_steps, step_seconds=step_seconds,
                               minutes=minutes, over_budget=over)
        line = projection_line(self.total_steps, step_seconds)
        if self.budget_minutes is not None:
            line += f" (budget: {self.budget_minutes:g} min for {self.budget_name})"
        self.printer(line)
        if over:
            advice = ""
            if self.steps_per_epoch is not None:
                epoch_seconds = step_seconds * self.steps_per_epoch
                epochs = math.floor(self.budget_minutes * 60 / epoch_seconds + 1e-9)
                advice = (f" About {epochs} epochs would fit (--epochs {epochs})."
                          if epochs >= 1 else " Not even one epoch fits.")
            self.printer(f"WARNING: the projected {minutes:.2f} min exceed the "
                         f"{self.budget_minutes:g} min of {self.budget_name}: this run "
                         f"will go over the time it was sized for.{advice}")

"""K, the length of BYOL's target-EMA schedule, decided in one place.

BYOL's tau rises from tau_base to 1 over K steps (`ema_momentum`), K being
the whole run. Who knows the run's length depends on how the model is
trained, so `EMAHorizon` takes K, in this order of precedence, from:

1. the model's ``target_decay_steps`` option, when set (fixed for life);
2. the run's length in steps, when a caller that sees the whole run says it
   (`set_run_length`: `keras_semppl.callbacks.fit_resumable`, whose
   per-epoch `fit` calls each see only part of it, and ``semppl train``);
3. otherwise each `fit` call's ``epochs`` x steps per epoch (`for_fit`).
   Keras counts epochs from 0 across calls (``initial_epoch``), as the
   optimizer counts steps, so a second ``fit(initial_epoch=2, epochs=4)``
   ends on the schedule of one ``fit(epochs=4)``.

K is None (tau stays at tau_base) only when none of these is known: a
stream without a length and no ``steps_per_epoch``.
"""


class EMAHorizon:
    """Holds K for one model; see the module docstring.

    Args:
        fixed: the model's ``target_decay_steps`` (an int, or None).
    """

    def __init__(self, fixed=None):
        self.fixed = fixed
        self.run_length = None
        self.fit_length = None

    @property
    def total_steps(self):
        """K: an int, or None when unknown."""
        if self.fixed is not None:
            return self.fixed
        return self.run_length if self.run_length is not None else self.fit_length

    def set_run_length(self, total_steps):
        """The whole run is ``total_steps`` optimizer steps; True if K changed."""
        if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 1:
            raise ValueError(f"total_steps must be a positive int; got {total_steps!r}.")
        before = self.total_steps
        self.run_length = total_steps
        return self.total_steps != before

    def for_fit(self, epochs, steps_per_epoch):
        """A `fit` call of ``epochs`` epochs of ``steps_per_epoch`` (None:
        unknown) steps begins; True if K changed (the step must be retraced,
        since it reads K as a constant)."""
        before = self.total_steps
        self.fit_length = None if steps_per_epoch is None else int(epochs) * int(steps_per_epoch)
        return self.total_steps != before

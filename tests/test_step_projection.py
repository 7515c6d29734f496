"""`StepTimeProjection` on a fake clock: which steps it times, its arithmetic,
the budget warning, and argument checks."""

import pytest

from keras_semppl.callbacks.step_projection import StepTimeProjection

pytestmark = pytest.mark.backend_free


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def _run(callback, clock, fits):
    """Drives ``callback`` through `fit` calls; ``fits``: per fit, the step
    durations; ``pauses`` between fits are 50 s (e.g. a checkpoint save)."""
    for index, durations in enumerate(fits):
        if index:
            clock.now += 50.0
        callback.on_train_begin()
        for batch, seconds in enumerate(durations):
            callback.on_train_batch_begin(batch)
            clock.now += seconds
            callback.on_train_batch_end(batch)


def _projection(total, fits, **kwargs):
    clock, lines = FakeClock(), []
    callback = StepTimeProjection(total, clock=clock, printer=lines.append, **kwargs)
    _run(callback, clock, fits)
    return callback, lines


def test_times_the_window_after_the_warmup_and_prints_steps_times_seconds():
    # 2 warm-up steps (one compiling for 30 s), then 4 timed: mean 0.5 s.
    callback, lines = _projection(
        1200, [[30.0, 1.0, 0.4, 0.6, 0.3, 0.7, 9.0]], warmup_steps=2, window_steps=4)
    assert lines == ["projected: 1200 steps x 0.5 s = 10.00 min"]  # 1200 x 0.5 / 60
    assert callback.projection == dict(steps=1200, step_seconds=pytest.approx(0.5),
                                       minutes=pytest.approx(10.0), over_budget=False)


def test_a_pause_between_fit_calls_is_not_a_step():
    # One fit per epoch of 3 steps; the window (steps 2-5) spans the 50 s pause.
    _, lines = _projection(36, [[20.0, 0.25, 0.25], [0.25, 0.25, 0.25]],
                           warmup_steps=1, window_steps=4)
    assert lines == ["projected: 36 steps x 0.25 s = 0.15 min"]  # 9 s


def test_over_budget_warns_and_says_how_many_epochs_fit():
    # 100 steps per epoch x 10 epochs x 0.6 s = 10 min > 7 min; 7 min / 60 s per epoch.
    _, lines = _projection(1000, [[5.0] + [0.6] * 20], budget_minutes=7,
                           steps_per_epoch=100, budget_name="the test's training",
                           warmup_steps=1, window_steps=20)
    assert lines[0] == ("projected: 1000 steps x 0.6 s = 10.00 min "
                        "(budget: 7 min for the test's training)")
    assert lines[1].startswith("WARNING: the projected 10.00 min exceed the 7 min of "
                               "the test's training")
    assert lines[1].endswith("About 7 epochs would fit (--epochs 7).")


def test_within_budget_no_warning():
    _, lines = _projection(100, [[5.0] + [0.6] * 20], budget_minutes=7, warmup_steps=1,
                           window_steps=20)
    assert lines == ["projected: 100 steps x 0.6 s = 1.00 min (budget: 7 min for training)"]


def test_short_runs_shrink_the_warmup_and_window():
    # 3 steps: 1 warm-up, 2 timed; a single step has nothing to time.
    _, lines = _projection(3, [[9.0, 2.0, 4.0]])
    assert lines == ["projected: 3 steps x 3 s = 0.15 min"]
    _, lines = _projection(1, [[9.0]])
    assert lines == []


def test_prints_once():
    _, lines = _projection(10, [[1.0] * 10], warmup_steps=1, window_steps=2)
    assert len(lines) == 1


@pytest.mark.parametrize("kwargs,message", [
    (dict(total_steps=0), "total_steps must be an int >= 1"),
    (dict(total_steps=10, budget_minutes=0), "budget_minutes must satisfy"),
    (dict(total_steps=10, warmup_steps=0), "warmup_steps must be an int >= 1"),
    (dict(total_steps=10, steps_per_epoch=2.5), "steps_per_epoch must be an int"),
])
def test_bad_arguments_name_themselves(kwargs, message):
    with pytest.raises(ValueError, match=message):
        StepTimeProjection(**kwargs)

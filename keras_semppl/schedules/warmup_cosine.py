"""Linear warm-up followed by cosine decay, the BYOL / SimCLR learning rate,
built on Keras' `CosineDecay` (its ``warmup_target`` / ``warmup_steps``).

Source: BYOL (Grill et al. 2020), `byol/utils/schedules.py` in
google-deepmind/deepmind-research; cosine decay from SGDR (Loshchilov &
Hutter 2017); linear scaling rule from Goyal et al. 2017.
"""

import keras


def scale_learning_rate(base_lr, batch_size):
    """Linear scaling rule: `base_lr * batch_size / 256` (BYOL, LARS recipe).

    Args:
        base_lr: learning rate quoted for a batch of 256 (BYOL: 0.2).
        batch_size: global batch size, a positive integer.

    Returns:
        The scaled learning rate, a Python float.
    """
    if base_lr < 0:
        raise ValueError(f"`base_lr` must be >= 0, got {base_lr}.")
    if batch_size <= 0:
        raise ValueError(f"`batch_size` must be > 0, got {batch_size}.")
    return float(base_lr) * batch_size / 256.0


def warmup_cosine_decay(peak_learning_rate, total_steps, warmup_steps=0,
                        final_learning_rate=0.0, name="warmup_cosine_decay"):
    """Keras' own `CosineDecay` set up as a linear warm-up from 0 to a peak,
    then a cosine decay to ``final_learning_rate`` at ``total_steps``.

    The same schedule as `WarmupCosineDecay`, as a plain
    `keras.optimizers.schedules.CosineDecay` (saved without this package).
    """
    _check(peak_learning_rate, total_steps, warmup_steps, final_learning_rate)
    return keras.optimizers.schedules.CosineDecay(**_cosine_kwargs(
        peak_learning_rate, total_steps, warmup_steps, final_learning_rate), name=name)


def _check(peak, total_steps, warmup_steps, final):
    if peak < 0:
        raise ValueError(f"`peak_learning_rate` must be >= 0, got {peak}.")
    if final < 0:
        raise ValueError(f"`final_learning_rate` must be >= 0, got {final}.")
    if int(total_steps) != total_steps or total_steps <= 0:
        raise ValueError(f"`total_steps` must be a positive integer, got {total_steps}.")
    if int(warmup_steps) != warmup_steps or warmup_steps < 0:
        raise ValueError(f"`warmup_steps` must be a non-negative integer, got {warmup_steps}.")
    if warmup_steps > total_steps:
        raise ValueError(f"`warmup_steps` ({warmup_steps}) must be <= `total_steps` "
                         f"({total_steps}).")


def _cosine_kwargs(peak, total_steps, warmup_steps, final):
    """`CosineDecay` arguments: warm up from 0 to ``peak``, decay to ``final``."""
    return dict(
        initial_learning_rate=0.0,
        # max(., 1) only guards the degenerate W == T case (no decay phase).
        decay_steps=max(int(total_steps) - int(warmup_steps), 1),
        alpha=float(final) / float(peak) if peak > 0 else 0.0,
        warmup_target=float(peak),
        warmup_steps=int(warmup_steps),
    )


@keras.saving.register_keras_serializable(package="keras_semppl")
class WarmupCosineDecay(keras.optimizers.schedules.CosineDecay):
    """Linear warm-up from 0 to a peak, then cosine decay to a final value.

    Keras' `CosineDecay` (``warmup_target``, ``warmup_steps``) under the
    argument names that BYOL's recipe uses; the config keeps these names, so
    models saved with earlier versions load unchanged.
    For step `k`, with `W = warmup_steps`, `T = total_steps`:

    - `k < W`: `lr = peak * k / W`;
    - `W <= k <= T`: `lr = final + (peak - final) * (1 + cos(pi * p)) / 2`
      with `p = (k - W) / (T - W)`;
    - `k > T`: `lr = final`.

    Source: BYOL (Grill et al. 2020) `learning_schedule`, which decays to 0;
    `final_learning_rate` generalises it.

    Args:
        peak_learning_rate: learning rate reached at the end of warm-up.
            Scale it with `scale_learning_rate` for large batches.
        total_steps: step at which the decay ends (> 0).
        warmup_steps: number of linear warm-up steps, `0 <= W <= T`.
        final_learning_rate: value at and after `total_steps`.
        name: optional name.
    """

    def __init__(self, peak_learning_rate, total_steps, warmup_steps=0,
                 final_learning_rate=0.0, name="warmup_cosine_decay"):
        _check(peak_learning_rate, total_steps, warmup_steps, final_learning_rate)
        super().__init__(**_cosine_kwargs(peak_learning_rate, total_steps, warmup_steps,
                                          final_learning_rate), name=name)
        self.peak_learning_rate = float(peak_learning_rate)
        self.total_steps = int(total_steps)
        self.final_learning_rate = float(final_learning_rate)

    def get_config(self):
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "final_learning_rate": self.final_learning_rate,
            "name": self.name,
        }

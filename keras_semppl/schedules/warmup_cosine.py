"""Linear warm-up followed by cosine decay, the BYOL / SimCLR learning rate.

Source: BYOL (Grill et al. 2020), `byol/utils/schedules.py` in
google-deepmind/deepmind-research; cosine decay from SGDR (Loshchilov &
Hutter 2017); linear scaling rule from Goyal et al. 2017.
"""

import math

import keras
from keras import ops


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


@keras.saving.register_keras_serializable(package="keras_semppl")
class WarmupCosineDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 0 to a peak, then cosine decay to a final value.

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

    Call:
        step: scalar integer or float tensor (the optimizer's iteration
            count). Returns a float32 scalar.
    """

    def __init__(
        self,
        peak_learning_rate,
        total_steps,
        warmup_steps=0,
        final_learning_rate=0.0,
        name="warmup_cosine_decay",
    ):
        super().__init__()
        if peak_learning_rate < 0:
            raise ValueError(
                "`peak_learning_rate` must be >= 0, got "
                f"{peak_learning_rate}."
            )
        if final_learning_rate < 0:
            raise ValueError(
                "`final_learning_rate` must be >= 0, got "
                f"{final_learning_rate}."
            )
        if int(total_steps) != total_steps or total_steps <= 0:
            raise ValueError(
                f"`total_steps` must be a positive integer, got {total_steps}."
            )
        if int(warmup_steps) != warmup_steps or warmup_steps < 0:
            raise ValueError(
                "`warmup_steps` must be a non-negative integer, got "
                f"{warmup_steps}."
            )
        if warmup_steps > total_steps:
            raise ValueError(
                f"`warmup_steps` ({warmup_steps}) must be <= `total_steps` "
                f"({total_steps})."
            )
        self.peak_learning_rate = float(peak_learning_rate)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.final_learning_rate = float(final_learning_rate)
        self.name = name

    def __call__(self, step):
        step = ops.cast(step, "float32")
        peak = self.peak_learning_rate
        final = self.final_learning_rate
        warmup = float(self.warmup_steps)
        # max(., 1) only guards the degenerate W == 0 or W == T cases.
        warm_lr = peak * step / max(warmup, 1.0)
        decay_steps = max(float(self.total_steps - self.warmup_steps), 1.0)
        progress = ops.clip((step - warmup) / decay_steps, 0.0, 1.0)
        cosine = 0.5 * (1.0 + ops.cos(math.pi * progress))
        decay_lr = final + (peak - final) * cosine
        return ops.where(step < warmup, warm_lr, decay_lr)

    def get_config(self):
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "final_learning_rate": self.final_learning_rate,
            "name": self.name,
        }

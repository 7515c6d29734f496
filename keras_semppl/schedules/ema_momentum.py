"""Target-network EMA momentum schedule of BYOL."""

import math

from keras import ops


def ema_momentum(step, total_steps, base_momentum):
    """BYOL's cosine increase of the target EMA rate from `tau_base` to 1.

    `tau_k = 1 - (1 - tau_base) * (cos(pi * k / K) + 1) / 2`, with the step
    `k` clipped to `[0, K]`; the target is then updated as
    `target <- tau_k * target + (1 - tau_k) * online`.

    Source: BYOL (Grill et al. 2020, Sec. 3.2 and `target_ema` in
    `byol/utils/schedules.py`). BYOL uses `tau_base` 0.99 for short runs and
    0.996 for 1000 epochs.

    Args:
        step: current step `k`, a Python number or a scalar (or any-shape)
            tensor, integer or float.
        total_steps: `K`, the step at which `tau` reaches 1 (> 0).
        base_momentum: `tau_base` in [0, 1].

    Returns:
        A float32 tensor of the same shape as `step`.
    """
    if isinstance(total_steps, (int, float)) and total_steps <= 0:
        raise ValueError(f"`total_steps` must be > 0, got {total_steps}.")
    if isinstance(base_momentum, (int, float)) and not (
        0.0 <= base_momentum <= 1.0
    ):
        raise ValueError(
            f"`base_momentum` must be in [0, 1], got {base_momentum}."
        )
    total = ops.cast(total_steps, "float32")
    k = ops.minimum(ops.maximum(ops.cast(step, "float32"), 0.0), total)
    cosine = (ops.cos(math.pi * k / total) + 1.0) / 2.0
    return 1.0 - (1.0 - ops.cast(base_momentum, "float32")) * cosine

"""LARS: layer-wise adaptive rate scaling, as used by SimCLR and BYOL.

Source: You, Gitman & Ginsburg 2017, "Large Batch Training of Convolutional
Networks" (arXiv 1708.03888); the variant follows BYOL (Grill et al. 2020,
`byol/utils/optimizers.py`): weight decay is added to the gradient, the sum
is rescaled by the trust ratio, then fed to heavy-ball momentum.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_semppl")
class LARS(keras.optimizers.Optimizer):
    """LARS with coupled weight decay and heavy-ball momentum.

    For each variable `w` with gradient `g` (any shape), per step:

    ```
    u = g + weight_decay * w                 # unless w excluded from decay
    u = u * eta * ||w|| / ||u||              # unless excluded from adaptation
                                             # (only when both norms > 0)
    m = momentum * m + u
    w = w - lr * m                           # nesterov: lr * (momentum*m + u)
    ```

    Norms are Frobenius norms over the whole variable. Excluded variables
    (by default every variable of rank <= 1: biases, BatchNorm gamma/beta)
    thus get plain momentum SGD, as in BYOL's `exclude_bias_and_norm`.

    `weight_decay` here is LARS's coupled decay, not Keras's decoupled one;
    the base-class decoupled decay is always off.

    Args:
        learning_rate: float, schedule or callable (BYOL: 0.2 * batch / 256
            with warm-up and cosine decay, see `keras_semppl.schedules`).
        momentum: heavy-ball coefficient in [0, 1). Defaults to 0.9.
        weight_decay: coupled L2 coefficient >= 0 (BYOL: 1.5e-6).
        eta: trust coefficient (LARS paper's `eta`), > 0. Defaults to 1e-3.
        nesterov: use Nesterov momentum.
        exclude_from_weight_decay: list of substrings; a variable whose path
            (e.g. `"dense/bias"`) contains any of them gets no weight decay.
        exclude_from_layer_adaptation: list of substrings, same matching, for
            the trust ratio. `None` means "same as exclude_from_weight_decay".
        exclude_rank1: exclude variables of rank <= 1 from both weight decay
            and adaptation. Defaults to True.
        **kwargs: the base `keras.optimizers.Optimizer` arguments (clipnorm,
            use_ema, gradient_accumulation_steps, name, ...), except
            the decoupled `weight_decay`.
    """

    def __init__(
        self,
        learning_rate=0.2,
        momentum=0.9,
        weight_decay=0.0,
        eta=1e-3,
        nesterov=False,
        exclude_from_weight_decay=None,
        exclude_from_layer_adaptation=None,
        exclude_rank1=True,
        name="lars",
        **kwargs,
    ):
        super().__init__(
            learning_rate=learning_rate, name=name, weight_decay=None, **kwargs
        )
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"`momentum` must be in [0, 1), got {momentum}.")
        if weight_decay is None or weight_decay < 0:
            raise ValueError(
                f"`weight_decay` must be a float >= 0, got {weight_decay}."
            )
        if eta <= 0:
            raise ValueError(f"`eta` must be > 0, got {eta}.")
        self.momentum = float(momentum)
        self.lars_weight_decay = float(weight_decay)
        self.eta = float(eta)
        self.nesterov = bool(nesterov)
        # Not `self.exclude_from_weight_decay`: that name is a base method.
        self._wd_exclude = _as_names(
            exclude_from_weight_decay, "exclude_from_weight_decay"
        )
        if exclude_from_layer_adaptation is None:
            self._adapt_exclude = None
        else:
            self._adapt_exclude = _as_names(
                exclude_from_layer_adaptation, "exclude_from_layer_adaptation"
            )
        self.exclude_rank1 = bool(exclude_rank1)

    def _excluded(self, variable, names):
        if self.exclude_rank1 and len(variable.shape) <= 1:
            return True
        path = getattr(variable, "path", None) or variable.name
        return any(name in path for name in names)

    def uses_weight_decay(self, variable):
        """Whether `variable` gets the coupled weight decay (Python bool)."""
        return self.lars_weight_decay > 0 and not self._excluded(
            variable, self._wd_exclude
        )

    def uses_layer_adaptation(self, variable):
        """Whether `variable` gets the trust-ratio rescaling (Python bool)."""
        names = self._wd_exclude if self._adapt_exclude is None else (
            self._adapt_exclude
        )
        return not self._excluded(variable, names)

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._momentums = []
        if self.momentum > 0:
            self._momentums = self.add_optimizer_variables(
                variables, "momentum"
            )

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        update = ops.cast(gradient, dtype)
        # The filters are static per variable, so plain Python branches.
        if self.uses_weight_decay(variable):
            wd = ops.cast(self.lars_weight_decay, dtype)
            update = ops.add(update, ops.multiply(wd, variable))
        if self.uses_layer_adaptation(variable):
            w_norm = ops.sqrt(ops.sum(ops.square(variable)))
            u_norm = ops.sqrt(ops.sum(ops.square(update)))
            positive = ops.logical_and(
                ops.greater(w_norm, 0.0), ops.greater(u_norm, 0.0)
            )
            # Keep the division finite where the ratio is not used.
            safe_u_norm = ops.where(positive, u_norm, ops.ones_like(u_norm))
            ratio = ops.where(
                positive,
                ops.divide(ops.multiply(self.eta, w_norm), safe_u_norm),
                ops.ones_like(w_norm),
            )
            update = ops.multiply(update, ops.cast(ratio, dtype))
        if self.momentum > 0:
            m = self._momentums[self._get_variable_index(variable)]
            mu = ops.cast(self.momentum, dtype)
            new_m = ops.add(ops.multiply(mu, m), update)
            self.assign(m, new_m)
            if self.nesterov:
                update = ops.add(ops.multiply(mu, new_m), update)
            else:
                update = new_m
        self.assign_sub(variable, ops.multiply(lr, update))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "momentum": self.momentum,
                "weight_decay": self.lars_weight_decay,
                "eta": self.eta,
                "nesterov": self.nesterov,
                "exclude_from_weight_decay": list(self._wd_exclude),
                "exclude_from_layer_adaptation": (
                    None
                    if self._adapt_exclude is None
                    else list(self._adapt_exclude)
                ),
                "exclude_rank1": self.exclude_rank1,
            }
        )
        return config


def _as_names(names, arg):
    if names is None:
        return ()
    if isinstance(names, str):
        return (names,)
    names = tuple(names)
    if not all(isinstance(n, str) for n in names):
        raise ValueError(f"`{arg}` must be a list of strings, got {names}.")
    return names

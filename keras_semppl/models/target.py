"""BYOL's target network: a frozen copy of the online network, moved by an EMA.

    target_net = clone_network(online_net, "target_...")   # same architecture
    pairs = freeze_as_copy([(online_net, target_net), ...])  # copy weights, freeze
    ema_update(pairs, tau)   # after each optimizer step:
                             # target <- tau * target + (1 - tau) * online

The target's variables are marked non-trainable one by one (before
``compile()``: Keras' JAX trainer captures the trainable set there), so that
its BatchNorm layers still normalise with batch statistics in training, as
BYOL's target does, while no optimizer ever sees them. Its BatchNorm moving
statistics follow its own forward passes; only the online network's trainable
weights are averaged in (Grill et al., 2020).
"""

import keras
from keras import ops

from keras_semppl.schedules.ema_momentum import ema_momentum


def clone_network(online, name, input_shape=None):
    """A fresh network with ``online``'s architecture (weights are not copied).

    Args:
        online: a `keras.Model` (cloned with `keras.models.clone_model`) or a
            serialisable layer (rebuilt from its config).
        name: the clone's name.
        input_shape: the shape to build a layer clone with (layers only).
    """
    if isinstance(online, keras.Model):
        clone = keras.models.clone_model(online)
        clone.name = name
        return clone
    clone = online.__class__.from_config(dict(online.get_config(), name=name))
    clone.build(input_shape)
    return clone


def freeze_as_copy(network_pairs):
    """Copies each online network into its target and freezes the target.

    Args:
        network_pairs: ``[(online_net, target_net), ...]`` of equal architecture.

    Returns:
        ``[(target_variable, online_variable), ...]`` for every *trainable*
        online variable: the pairs `ema_update` moves.

    Raises:
        ValueError: the networks' weights do not correspond one to one.
    """
    pairs = []
    for online_net, target_net in network_pairs:
        online_w, target_w = online_net.weights, target_net.weights
        if len(online_w) != len(target_w):
            raise ValueError(
                f"Could not copy '{online_net.name}' into a target network: "
                f"{len(online_w)} vs {len(target_w)} weights. The encoder must "
                "be clonable with keras.models.clone_model."
            )
        for o, t in zip(online_w, target_w):
            if tuple(o.shape) != tuple(t.shape):
                raise ValueError(
                    f"Target weight {t.path} has shape {t.shape}, online "
                    f"{o.path} has {o.shape}."
                )
            # A copy, never the same buffer (JAX donates buffers).
            t.assign(ops.convert_to_numpy(o.value).copy())
            if o.trainable:
                pairs.append((t, o))
            t.trainable = False
    return pairs


def target_decay(iterations, base, total_steps=None):
    """tau at optimizer step ``iterations``: BYOL's cosine schedule, or ``base``.

    Args:
        iterations: the optimizer's step count (after the step).
        base: tau_base in [0, 1].
        total_steps: K of the schedule; None keeps tau at ``base``.

    Returns:
        float32 scalar tensor.
    """
    if total_steps is None:
        return ops.convert_to_tensor(base, "float32")
    return ema_momentum(iterations, total_steps, base)


def ema_update(pairs, tau):
    """target <- tau * target + (1 - tau) * online, for each (target, online) pair."""
    for target, online in pairs:
        tau_t = ops.cast(tau, target.dtype)
        target.assign(tau_t * target.value + (1.0 - tau_t) * ops.stop_gradient(online.value))

"""What a `.keras` file written on one backend needs to load on another.

Keras records a built-in optimizer by the module of the class it
instantiated, and on torch that is the backend's own subclass (e.g.
``keras.src.backend.torch.optimizers.torch_adam``), whose update calls
``torch._foreach_*``. Loaded on JAX or TensorFlow, that class fails at the
first update ("expected Tensor as element 0 ... got jaxlib ArrayImpl").
`portable_compile_config` points such entries back at ``keras.optimizers``,
which resolves to the current backend's class.

A model also loads with the dtype policy it was saved with, whatever the
loading process's global policy (`saved_dtype_policy`).
"""

import contextlib
import copy

import keras

_BACKEND_MODULE = "keras.src.backend."


def portable_optimizer_config(config):
    """A serialized optimizer config with backend-specific modules made neutral."""
    if not isinstance(config, dict):
        return config
    module = config.get("module")
    if isinstance(module, str) and module.startswith(_BACKEND_MODULE):
        config = dict(config, module="keras.optimizers")
    inner = config.get("config")
    if isinstance(inner, dict) and isinstance(inner.get("inner_optimizer"), dict):
        # LossScaleOptimizer wraps the optimizer that did the work.
        config = dict(config, config=dict(
            inner, inner_optimizer=portable_optimizer_config(inner["inner_optimizer"])))
    return config


def portable_compile_config(config):
    """``compile_config`` of a `.keras` file, loadable on the current backend."""
    if not isinstance(config, dict) or "optimizer" not in config:
        return config
    config = copy.copy(config)
    config["optimizer"] = portable_optimizer_config(config["optimizer"])
    return config


@contextlib.contextmanager
def saved_dtype_policy(config):
    """Makes the policy a model was saved with global while it is rebuilt.

    A model creates some layers itself (SemPPL's heads, target network and
    queue), and those take Keras' global dtype policy when created, while
    the layers in the file keep the policy they were saved with. Loaded
    under another global policy (a bf16 model in a float32 process), the
    model would mix both. Inside this context the file's policy is global,
    so the whole model is rebuilt with it; the caller's is restored after.
    ``config``: the model's saved config (its ``dtype`` entry).
    """
    saved = config.get("dtype") if isinstance(config, dict) else None
    if isinstance(saved, dict):
        saved = saved.get("config", {}).get("name") \
            if saved.get("class_name") == "DTypePolicy" else None
    if not isinstance(saved, str):
        yield
        return
    before = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(saved)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(before)

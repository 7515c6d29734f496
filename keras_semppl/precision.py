"""Training precision: bfloat16 where the hardware computes it natively.

``"bf16"`` is Keras' ``mixed_bfloat16`` policy (layers compute in bfloat16
with float32 weights; SemPPL keeps its losses, queue and target EMA in
float32); ``"fp32"`` is ``float32``. ``"auto"`` picks bf16 on hardware with
native bfloat16 arithmetic, where it is faster at the same quality:

* a TPU (``tpu=True``, or JAX's first device);
* an NVIDIA GPU of compute capability 8.0 or newer (Ampere on);
* with no accelerator, an x86 CPU with AMX-BF16 or AVX512-BF16 (Intel
  Cooper Lake / Sapphire Rapids on, AMD Zen 4 on), where oneDNN (TensorFlow,
  torch) uses them, for a ResNet encoder on TensorFlow or torch;

and fp32 anywhere else: older GPUs and CPUs emulate bfloat16 slowly, and on
a bfloat16 CPU it does not pay for the small convnet (the digits job ran
about 12 % slower in bf16) nor on JAX (XLA:CPU has no bfloat16 fast path for
convolutions), as measured in the project's benchmarks.
"""

import os

PRECISIONS = ("auto", "bf16", "fp32")
_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_bfloat16_flags(cpuinfo="/proc/cpuinfo"):
    """The CPU's native-bfloat16 feature flags among AMX-BF16 / AVX512-BF16.

    Args:
        cpuinfo: path of a Linux ``/proc/cpuinfo``-style file; elsewhere
            (no such file) no flag is reported.

    Returns:
        A sorted list such as ``["amx_bf16", "avx512_bf16"]``.
    """
    if not os.path.exists(cpuinfo):
        return []
    with open(cpuinfo) as f:
        words = set()
        for line in f:
            if line.startswith("flags"):
                words.update(line.split(":", 1)[-1].split())
    return sorted(flag for flag in _CPU_FLAGS if flag in words)


def _accelerator():
    """(kind, native bf16) of the backend's first accelerator, or (None, False)."""
    import keras  # here, so that the command line can read PRECISIONS without Keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        if device.platform == "tpu":
            return "TPU", True
        if device.platform == "gpu":
            capability = getattr(device, "compute_capability", None)
            return f"GPU (compute capability {capability})", _at_least_8(capability)
    elif backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            capability = tf.config.experimental.get_device_details(gpus[0]).get(
                "compute_capability")
            return f"GPU (compute capability {capability})", _at_least_8(capability)
    elif backend == "torch":
        import torch

        if torch.cuda.is_available():
            capability = torch.cuda.get_device_capability()
            return f"GPU (compute capability {capability})", _at_least_8(capability)
    return None, False


def _at_least_8(capability):
    if capability is None:
        return False
    if isinstance(capability, str):
        capability = tuple(int(p) for p in capability.split(".")[:2])
    return tuple(capability) >= (8, 0)


#: Encoders for which bfloat16 on a CPU measured slower than float32.
CPU_FP32_ENCODERS = ("small_convnet",)


def resolve_precision(precision, tpu=False, cpuinfo="/proc/cpuinfo", encoder=None,
                      backend=None):
    """``"auto"``, ``"bf16"`` or ``"fp32"`` -> (``"bf16"`` or ``"fp32"``, why).

    Args:
        precision: one of `PRECISIONS`.
        tpu: the run uses a TPU (TensorFlow's ``--tpu``).
        cpuinfo: where the CPU's flags are read (a file like /proc/cpuinfo).
        encoder: the encoder's name (``semppl train --encoder``), or None.
        backend: the Keras backend's name (None: the current one).

    Returns:
        The precision to train in and a short reason, printed by the CLI.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}; got {precision!r}.")
    if precision != "auto":
        return precision, "as asked"
    if tpu:
        return "bf16", "auto: a TPU computes bfloat16 natively"
    kind, native = _accelerator()
    if kind is not None:
        verdict = "computes" if native else "does not compute"
        return ("bf16" if native else "fp32"), f"auto: the {kind} {verdict} bfloat16 natively"
    flags = cpu_bfloat16_flags(cpuinfo)
    if flags:
        if backend is None:
            import keras

            backend = keras.backend.backend()
        if backend == "jax":
            return "fp32", ("auto: XLA:CPU has no bfloat16 fast path for convolutions "
                            f"(this CPU has {' and '.join(flags)})")
        if encoder in CPU_FP32_ENCODERS:
            return "fp32", (f"auto: on a CPU, bfloat16 measured slower for the {encoder} "
                            f"(this CPU has {' and '.join(flags)})")
        return "bf16", f"auto: this CPU has {' and '.join(flags)}"
    return "fp32", "auto: no accelerator, and this CPU has no AMX-BF16 or AVX512-BF16"


def policy_name(precision):
    """Keras' dtype policy for a resolved precision."""
    if precision not in ("bf16", "fp32"):
        raise ValueError(f"resolve the precision first (bf16 or fp32); got {precision!r}.")
    return "mixed_bfloat16" if precision == "bf16" else "float32"

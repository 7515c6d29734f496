"""`keras_semppl.precision`: what ``--precision auto`` resolves to, and why."""

import pytest

from keras_semppl import precision as P


def _cpuinfo(tmp_path, flags):
    path = tmp_path / "cpuinfo"
    # Two cores, as Linux lists them: one "flags" line per core.
    block = f"processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu sse2 {flags}\n\n"
    path.write_text(block + block.replace(": 0", ": 1"))
    return str(path)


@pytest.fixture
def no_accelerator(monkeypatch):
    monkeypatch.setattr(P, "_accelerator", lambda: (None, False))


@pytest.mark.backend_free
def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    assert P.cpu_bfloat16_flags(_cpuinfo(tmp_path, "avx2 amx_tile amx_bf16 avx512_bf16")) == [
        "amx_bf16", "avx512_bf16"]
    assert P.cpu_bfloat16_flags(_cpuinfo(tmp_path, "avx2 avx512f")) == []
    # "amx_bf16x" or a model name that mentions bf16 is not the flag.
    assert P.cpu_bfloat16_flags(_cpuinfo(tmp_path, "amx_bf16x")) == []
    assert P.cpu_bfloat16_flags(str(tmp_path / "no_such_file")) == []


@pytest.mark.backend_free
def test_auto_on_a_cpu_follows_its_bfloat16_flags(tmp_path, no_accelerator):
    bf16_cpu = _cpuinfo(tmp_path, "avx512f avx512_bf16")
    got = P.resolve_precision("auto", cpuinfo=bf16_cpu, encoder="resnet18", backend="torch")
    assert got == ("bf16", "auto: this CPU has avx512_bf16")
    # Where bf16 measured slower on such a CPU: the small convnet, and JAX.
    got = P.resolve_precision("auto", cpuinfo=bf16_cpu, encoder="small_convnet",
                              backend="tensorflow")
    assert got[0] == "fp32" and "slower for the small_convnet" in got[1]
    got = P.resolve_precision("auto", cpuinfo=bf16_cpu, encoder="resnet18", backend="jax")
    assert got[0] == "fp32" and "XLA:CPU" in got[1]
    got = P.resolve_precision("auto", cpuinfo=_cpuinfo(tmp_path, "avx2"))
    assert got[0] == "fp32" and "no AMX-BF16 or AVX512-BF16" in got[1]
    # An explicit choice is kept whatever the hardware.
    assert P.resolve_precision("bf16", cpuinfo=_cpuinfo(tmp_path, "avx2")) == ("bf16", "as asked")
    assert P.resolve_precision("fp32", cpuinfo=_cpuinfo(tmp_path, "amx_bf16"))[0] == "fp32"


@pytest.mark.backend_free
def test_auto_with_an_accelerator_follows_the_accelerator(tmp_path, monkeypatch):
    amx = _cpuinfo(tmp_path, "amx_bf16")
    assert P.resolve_precision("auto", tpu=True, cpuinfo=amx)[0] == "bf16"
    # An older GPU does not compute bfloat16 natively: fp32, even on an AMX host.
    monkeypatch.setattr(P, "_accelerator", lambda: ("GPU (compute capability 7.5)", False))
    assert P.resolve_precision("auto", cpuinfo=amx) == (
        "fp32", "auto: the GPU (compute capability 7.5) does not compute bfloat16 natively")
    monkeypatch.setattr(P, "_accelerator", lambda: ("GPU (compute capability 8.0)", True))
    assert P.resolve_precision("auto", cpuinfo=_cpuinfo(tmp_path, "avx2"))[0] == "bf16"


@pytest.mark.backend_free
def test_compute_capabilities_from_each_framework():
    # JAX reports "8.6", TensorFlow (8, 6), torch (8, 6).
    assert P._at_least_8("8.6") and P._at_least_8((8, 0)) and P._at_least_8((9, 0))
    assert not P._at_least_8("7.5") and not P._at_least_8((7, 5)) and not P._at_least_8(None)


@pytest.mark.backend_free
def test_bad_values_are_refused():
    with pytest.raises(ValueError, match=r"precision must be one of \('auto', 'bf16', 'fp32'\)"):
        P.resolve_precision("fp16")
    with pytest.raises(ValueError, match="resolve the precision first"):
        P.policy_name("auto")
    assert P.policy_name("bf16") == "mixed_bfloat16" and P.policy_name("fp32") == "float32"


def test_this_machine_resolves_without_error():
    """The backend's own device query runs (no accelerator here: the CPU decides)."""
    kind, _ = P._accelerator()
    precision, why = P.resolve_precision("auto")
    assert precision in ("bf16", "fp32") and why.startswith("auto: ")
    if kind is None:
        import keras

        assert (precision == "bf16") == (bool(P.cpu_bfloat16_flags())
                                         and keras.backend.backend() != "jax")

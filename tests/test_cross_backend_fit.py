"""A SemPPL model saved on any backend loads and trains on any other.

The three files (one per backend, each compiled with a built optimizer at
step 1) are made once per test session: the current
backend's in-process, the other two by one subprocess each, in parallel.
Each backend's pass then loads and fits all three: the 3 x 3 matrix over the
three passes.
"""

import os
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest

from tests.toy_data import tiny_model
from tests.toy_data import toy_batch_dict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BACKENDS = ("jax", "tensorflow", "torch")


def _batch(n=16):
    d = toy_batch_dict(n=n)
    return d["large_views"][0], d["large_views"][1], d["labels"]


def _built(policy="float32"):
    """A compiled tiny model whose optimizer holds its (zero) state at step 1."""
    before = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        model = tiny_model(queue_size=16)
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        model.optimizer.build(model.trainable_variables)
        model.optimizer.iterations.assign(1)
    finally:
        keras.mixed_precision.set_global_policy(before)
    return model


def save_files(folder):
    """Writes FOLDER/<backend>.keras (float32) and, on JAX, FOLDER/jax_bf16.keras."""
    backend = keras.backend.backend()
    _built().save(os.path.join(folder, f"{backend}.keras"))
    if backend == "jax":
        _built("mixed_bfloat16").save(os.path.join(folder, "jax_bf16.keras"))


@pytest.fixture(scope="session")
def saved(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("cross_backend"))
    current = keras.backend.backend()
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    code = ("import sys; from tests.test_cross_backend_fit import save_files; "
            "save_files(sys.argv[1])")
    jobs = [subprocess.Popen([sys.executable, "-c", code, folder], cwd=ROOT,
                             env=dict(env, KERAS_BACKEND=b), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
            for b in BACKENDS if b != current]
    save_files(folder)
    for job in jobs:
        output, _ = job.communicate(timeout=300)
        assert job.returncode == 0, output[-3000:]
    return folder


def _load(path):
    import keras_semppl.models  # noqa: F401  (registers SemPPL)

    return keras.saving.load_model(path)


@pytest.mark.integration
@pytest.mark.parametrize("source", BACKENDS)
def test_a_model_saved_on_any_backend_trains_after_loading(saved, source):
    model = _load(os.path.join(saved, f"{source}.keras"))
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 1
    before = [np.array(keras.ops.convert_to_numpy(v)) for v in model.trainable_variables]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # jit_compile ignored on torch
        history = model.fit(_batch(16), batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 3
    after = [keras.ops.convert_to_numpy(v) for v in model.trainable_variables]
    assert all(np.isfinite(a).all() for a in after)
    assert any(not np.array_equal(b, a) for b, a in zip(before, after))


@pytest.mark.integration
def test_a_bf16_model_loaded_in_a_float32_process_trains_in_bf16(saved):
    """The file's policy wins over the loading process's: every layer of the
    loaded model (the encoder's and those SemPPL builds itself: heads, target
    network, queue) computes in bfloat16, and the process stays float32."""
    assert keras.mixed_precision.global_policy().name == "float32"
    model = _load(os.path.join(saved, "jax_bf16.keras"))
    assert keras.mixed_precision.global_policy().name == "float32"
    model.jit_compile = False  # (the policy is the point here, not XLA's compile time)
    policies = {layer.path: layer.dtype_policy.name
                for layer in model._flatten_layers(include_self=True, recursive=True)}
    assert set(policies.values()) == {"mixed_bfloat16"}, policies
    a, b, labels = _batch(16)
    assert keras.backend.standardize_dtype(model(a[:2]).dtype) == "bfloat16"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        history = model.fit((a, b, labels), batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert all(keras.backend.standardize_dtype(v.dtype) == "float32"
               for v in model.trainable_variables)  # bf16 compute, float32 weights

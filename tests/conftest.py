"""Shared pytest set-up: the backend comes from KERAS_BACKEND (default jax).

Markers (see `tests/run_all_backends.py`, which runs the backend-free tests
once and every other test once per backend):

* ``backend_free``: does not depend on the Keras backend (tf.data pipelines,
  NumPy evaluation, plots, notebook freshness, command-line argument checks).
* ``backend("jax")``: meaningful on one backend only (its own distribution
  engine, say); skipped, with that reason, in the other backends' passes.
* ``integration``: runs a command, an example or a subprocess end to end.
* ``slow``: takes more than about 20 seconds on two idle cores.

Quick iteration: ``pytest -m "not slow"``.
"""

import os
import tempfile

import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")
# Keep TensorFlow's start-up quiet.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# JAX: compiled steps go to a persistent cache, so that the many tests (and
# their subprocesses) that build the same small models compile each step once.
# Compiled code is looked up by its exact program and compiler settings, so
# the cache changes no result. tests/run_all_backends.py gives each run its own.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(
    tempfile.gettempdir(), "keras-semppl-test-jax-cache"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "-1")

MARKERS = {
    "backend_free": "independent of the Keras backend: run once, not once per backend",
    "backend(name)": "only meaningful under KERAS_BACKEND=name; skipped elsewhere",
    "integration": "runs a command, an example or a subprocess end to end",
    "slow": "takes more than about 20 seconds on two idle cores",
}


def pytest_configure(config):
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")


def pytest_collection_modifyitems(config, items):
    import keras

    current = keras.backend.backend()
    for item in items:
        marker = item.get_closest_marker("backend")
        if marker is None:
            continue
        wanted = marker.args[0]
        if wanted != current:
            reason = marker.kwargs.get("reason", "")
            item.add_marker(pytest.mark.skip(
                reason=f"runs in the KERAS_BACKEND={wanted} pass" + (f": {reason}" if reason else "")))

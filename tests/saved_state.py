"""Shared helpers for tests that compare saved models or import benchmark scripts."""

import importlib
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def saved_state(path):
    """{variable path: array} of a saved SemPPL model, its optimizer's too.

    Seed-generator states are left out: their names are numbered per process.
    """
    import keras
    from keras import ops

    import keras_semppl  # noqa: F401  (registers the model's classes)

    model = keras.models.load_model(path)
    state = {v.path: np.array(ops.convert_to_numpy(v.value)) for v in model.variables
             if "seed_generator" not in v.path}
    state.update({"optimizer/" + v.path: np.array(ops.convert_to_numpy(v.value))
                  for v in model.optimizer.variables})
    return state


def benchmark_module(name):
    """The module of ``benchmarks/<name>.py``."""
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.pop(0)

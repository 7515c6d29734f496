"""A user's first mistakes get one line, not a traceback, from the installed `semppl`.

Each case runs the command's entry module (`python -m keras_semppl_cli`) in
a subprocess, as the `semppl` script does. A missing package is simulated
by an import hook that makes ``import NAME`` fail as if NAME were not
installed.
"""

import os
import pathlib
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.backend_free, pytest.mark.integration]

REPO = pathlib.Path(__file__).resolve().parents[1]
TINY = ["--epochs", "1", "--steps-per-epoch", "1", "--no-baseline"]

# Runs keras_semppl_cli with the packages named in argv[1] (comma-separated) hidden.
_HIDE_AND_RUN = """
import importlib.abc, sys
hidden = set(filter(None, sys.argv[1].split(",")))
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in hidden:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Hide())
import keras_semppl_cli
sys.exit(keras_semppl_cli.main(sys.argv[2:]))
"""


def _semppl(args, backend, hide=(), **env):
    environ = {k: v for k, v in os.environ.items()
               if k not in ("KERAS_BACKEND", "TF_CPP_MIN_LOG_LEVEL", "TFDS_DATA_DIR")}
    environ.update(PYTHONPATH=str(REPO), **env)
    if backend is not None:
        environ["KERAS_BACKEND"] = backend
    return subprocess.run([sys.executable, "-c", _HIDE_AND_RUN, ",".join(hide), *args],
                          cwd=REPO, env=environ, capture_output=True, text=True, timeout=300)


def _one_line(result):
    assert result.returncode != 0, result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    return lines[0]


def test_misspelt_backend_lists_the_valid_names():
    line = _one_line(_semppl(["train"], "tensorflwo"))
    assert line == ("semppl: KERAS_BACKEND='tensorflwo' is not a backend semppl runs on; "
                    "set KERAS_BACKEND to one of: jax, tensorflow, torch.")


def test_missing_backend_names_its_extra():
    line = _one_line(_semppl(["train"], "jax", hide=("jax", "jaxlib")))
    assert line.startswith("semppl: KERAS_BACKEND='jax', but jax is not installed: "
                           'pip install "keras-semppl[jax]"'), line


def test_backend_check_runs_before_keras_is_imported():
    # Keras itself hidden: the backend line still comes, so Keras was never imported.
    line = _one_line(_semppl(["train"], "tensorflwo", hide=("keras",)))
    assert "one of: jax, tensorflow, torch" in line


def test_tfds_name_without_tensorflow_datasets_names_the_extra(tmp_path):
    line = _one_line(_semppl(["train", "--dataset", "cifr10", "--output",
                              str(tmp_path / "m.keras")] + TINY, "tensorflow",
                             hide=("tensorflow_datasets",)))
    assert "'cifr10'" in line and "tensorflow-datasets" in line, line
    assert line.endswith('pip install "keras-semppl[tfds]".'), line


def test_unprepared_tfds_set_names_the_real_folder(tmp_path):
    folder = tmp_path / "tfds"
    line = _one_line(_semppl(["train", "--dataset", "cifar10", "--output",
                              str(tmp_path / "m.keras")] + TINY, "tensorflow",
                             TFDS_DATA_DIR=str(folder)))
    assert f"`tfds build cifar10 --data_dir={folder}`" in line, line
    assert "None" not in line, line

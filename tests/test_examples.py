"""The examples and the Colab notebook run end to end, at a tiny size.

Each example runs in a subprocess under the current KERAS_BACKEND with
SEMPPL_EXAMPLE_TINY=1 (or the ImageNet example's dry run); the notebook runs
cell by cell in a fresh kernel (nbclient) with the same settings. CIFAR-10
comes from `../shared/data/cifar10-jpeg/train.tar.gz` when present, else from
a tiny random image folder (no CIFAR image is ever committed).
"""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
NOTEBOOK = REPO / "colab" / "cifar10_semppl.ipynb"
CIFAR_TAR = REPO.parent / "shared" / "data" / "cifar10-jpeg" / "train.tar.gz"
TIMEOUT = 900  # seconds per example; they take well under a minute on 2 idle cores


def _backend():
    return os.environ.get("KERAS_BACKEND", "jax")


def _write_random_folder(root, classes=("airplane", "automobile", "bird"), per_class=30):
    """root/<class>/<n>.png of random 32x32 RGB images."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for name in classes:
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{i:04d}.png")
    return root


@pytest.fixture
def cifar_env(tmp_path):
    """Environment for the CIFAR example: tiny, the current backend, tmp output."""
    env = dict(os.environ, KERAS_BACKEND=_backend(), SEMPPL_EXAMPLE_TINY="1",
               SEMPPL_OUTPUT_DIR=str(tmp_path / "output"), TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("SEMPPL_CIFAR_ROOT", None)
    if CIFAR_TAR.exists():
        env["SEMPPL_CIFAR_TAR"] = str(CIFAR_TAR)
    else:
        env["SEMPPL_CIFAR_ROOT"] = str(_write_random_folder(tmp_path / "cifar"))
    return env


def _run_example(name, env, *args):
    """Runs examples/<name>; returns the JSON summary it prints last."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args], cwd=REPO, env=env,
        capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, (
        f"{name} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    last = result.stdout.strip().splitlines()[-1]
    return json.loads(last)


def _check_saved(summary, *files):
    for name in files:
        path = pathlib.Path(summary["saved"]) / name
        assert path.is_file() and path.stat().st_size > 0, path


# The CIFAR-10 example itself runs in test_notebook_runs_top_to_bottom_tiny:
# the notebook is generated from it (checked below), so one run covers both
# and keeps the suite's time down.


@pytest.mark.integration
@pytest.mark.slow
def test_image_folder_example_runs_tiny(tmp_path):
    root = _write_random_folder(tmp_path / "images", classes=("cats", "dogs"), per_class=20)
    unlabelled = tmp_path / "unlabelled"
    _write_random_folder(unlabelled, classes=("any",), per_class=20)
    env = dict(os.environ, KERAS_BACKEND=_backend(), SEMPPL_EXAMPLE_TINY="1",
               SEMPPL_OUTPUT_DIR=str(tmp_path / "output"), TF_CPP_MIN_LOG_LEVEL="2")
    summary = _run_example("image_folder_semppl.py", env, str(root), str(unlabelled))
    assert summary["backend"] == _backend()
    assert summary["classes"] == ["cats", "dogs"]
    assert np.isfinite(summary["final_loss"])
    _check_saved(summary, "semppl.keras", "encoder.keras")


@pytest.mark.integration
@pytest.mark.slow
def test_imagenet_example_dry_run(tmp_path):
    env = dict(os.environ, KERAS_BACKEND=_backend(), SEMPPL_IMAGENET_DRY_RUN="1",
               SEMPPL_OUTPUT_DIR=str(tmp_path / "output"), TF_CPP_MIN_LOG_LEVEL="2")
    summary = _run_example("imagenet_semppl.py", env)
    assert summary["dry_run"] is True and summary["backend"] == _backend()
    assert np.isfinite(summary["final_loss"])
    _check_saved(summary, "imagenet_semppl.keras", "imagenet_encoder.keras")
    checkpoints = sorted((pathlib.Path(summary["saved"]) / "checkpoints").glob("ckpt-*.keras"))
    assert checkpoints and not list(pathlib.Path(summary["saved"]).rglob(".*.tmp-*"))


def _make_notebook_module():
    spec = importlib.util.spec_from_file_location("make_notebook", EXAMPLES / "make_notebook.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.backend_free
def test_notebook_is_generated_from_the_example():
    pytest.importorskip("nbformat")
    make_notebook = _make_notebook_module()
    fresh = make_notebook.make_notebook(
        (EXAMPLES / "cifar10_semppl.py").read_text(encoding="utf-8")) + "\n"
    assert NOTEBOOK.read_text(encoding="utf-8") == fresh, (
        "colab/cifar10_semppl.ipynb is stale or edited by hand: "
        "run `python examples/make_notebook.py`.")


@pytest.mark.backend_free
def test_notebook_first_cell_sets_backend_and_installs():
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "code"
    assert 'os.environ.setdefault("KERAS_BACKEND"' in first.source
    assert "pip" in first.source and "import keras_semppl" in first.source
    assert all(not cell.get("outputs") for cell in nb.cells if cell.cell_type == "code")


@pytest.mark.integration
@pytest.mark.slow
def test_notebook_runs_top_to_bottom_tiny(cifar_env, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    for name in ("KERAS_BACKEND", "SEMPPL_EXAMPLE_TINY", "SEMPPL_OUTPUT_DIR",
                 "SEMPPL_CIFAR_TAR", "SEMPPL_CIFAR_ROOT", "TF_CPP_MIN_LOG_LEVEL"):
        if name in cifar_env:
            monkeypatch.setenv(name, cifar_env[name])  # the kernel inherits them
        else:
            monkeypatch.delenv(name, raising=False)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(REPO)}})
    client.execute()
    printed = "".join(output.get("text", "") for cell in nb.cells
                      for output in cell.get("outputs", []) if output.get("name") == "stdout")
    summary = json.loads(printed.strip().splitlines()[-1])
    assert summary["backend"] == _backend()
    assert 0.0 <= summary["knn_accuracy"] <= 1.0
    assert 0.0 <= summary["final_pseudo_label_accuracy"] <= 1.0
    _check_saved(summary, "cifar10_semppl.keras", "cifar10_encoder.keras")

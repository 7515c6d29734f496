"""The examples and the Colab notebook run end to end, at a tiny size.

Each example runs in a subprocess under the current KERAS_BACKEND with
SEMPPL_EXAMPLE_TINY=1 (or the ImageNet example's dry run). The notebook runs
cell by cell (nbclient) in a fresh virtual environment that does not have
keras-semppl: its first cell installs the locally built wheel through
SEMPPL_PIP_SPEC, as a Colab user installs the repository. That run (which
is also the CIFAR-10 example's) happens once, under TensorFlow, to keep the
suite's time down; the library calls it makes are tested on every backend.
CIFAR-10 comes from the workplace's JPEG archive when present, else from a
tiny random image folder (no CIFAR image is ever committed).
"""

import importlib.util
import json
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

from tests import fresh_venv

REPO = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
NOTEBOOK = REPO / "colab" / "cifar10_semppl.ipynb"
CIFAR_TAR = REPO.parent / "shared" / "data" / "cifar10-jpeg" / "train.tar.gz"
NOTEBOOK_BACKEND = "tensorflow"  # what the notebook picks in a [tensorflow]-only venv
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
@pytest.mark.skipif(os.environ.get("KERAS_BACKEND", "jax") == "jax",
                    reason="CI time: compiling the dry run's ResNet-50 step takes about a "
                           "minute on XLA:CPU; it runs in the tensorflow and torch passes, and "
                           "JAX's DataParallel training is tested by test_distributed_jax.py")
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


def _setup_cell(nb):
    """The set-up cell: the notebook's first code cell."""
    return next(cell for cell in nb.cells if cell.cell_type == "code")


@pytest.mark.backend_free
def test_notebook_title_first_then_one_place_sets_the_backend():
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert nb.cells[0].cell_type == "markdown"
    assert nb.cells[0].source.startswith("# Semi-supervised CIFAR-10 with SemPPL")
    setup = _setup_cell(nb)
    assert "Restart session" in nb.cells[1].source and "TPU" in nb.cells[1].source
    # One line chooses the backend; nothing else in the notebook sets it.
    assert setup.source.count('\nBACKEND = ""\n') == 1
    assert 'os.environ["KERAS_BACKEND"] = BACKEND' in setup.source
    for cell in nb.cells:
        if cell is not setup:
            assert "KERAS_BACKEND\"" not in cell.source and "BACKEND =" not in cell.source
    # Installs only when keras_semppl is missing (never on an ImportError from inside
    # it), with the backend's extra; the spec is the user's (SEMPPL_PIP_SPEC), by
    # default the repository that setup.py declares. Keras is not imported here.
    assert "except ImportError" not in setup.source
    assert 'if not installed("keras_semppl"):' in setup.source
    url = re.search(r'^REPOSITORY_URL = "([^"]+)"', (REPO / "setup.py").read_text(), re.M).group(1)
    assert f'or f"keras-semppl[{{BACKEND}}] @ git+{url}")' in setup.source
    assert "import keras\n" not in setup.source
    assert all(not cell.get("outputs") for cell in nb.cells if cell.cell_type == "code")


# Runs the set-up cell's source with the modules named in argv[1] hidden.
_RUN_SETUP = """
import sys
for name in filter(None, sys.argv[1].split(",")):
    sys.modules[name] = None  # find_spec and import then see it as not installed
exec(compile(sys.argv[2], "set-up cell", "exec"))
"""


def _run_setup_cell(python, source, hide=(), env=None, **extra):
    env = dict(os.environ if env is None else env, **extra)
    for name in ("KERAS_BACKEND", "COLAB_TPU_ADDR", "TPU_ACCELERATOR_TYPE"):
        if name not in extra:
            env.pop(name, None)
    return subprocess.run([str(python), "-c", _RUN_SETUP, ",".join(hide), source],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.backend_free
@pytest.mark.integration
def test_notebook_setup_cell_chooses_the_backend_and_installs_only_a_missing_package():
    nbformat = pytest.importorskip("nbformat")
    source = _setup_cell(nbformat.read(NOTEBOOK, as_version=4)).source
    env = dict(os.environ, PYTHONPATH=str(REPO), SEMPPL_PIP_SPEC="/nonexistent/no.whl")
    # A [tensorflow]-only install, KERAS_BACKEND unset: tensorflow.
    done = _run_setup_cell(sys.executable, source, hide=("jax", "torch"), env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert re.search(r"^Keras backend: tensorflow \((cpu|gpu) runtime\)$", done.stdout, re.M)
    assert "installing" not in done.stdout
    # Everything installed: the first of jax, tensorflow, torch.
    assert "Keras backend: jax (" in _run_setup_cell(sys.executable, source, env=env).stdout
    # KERAS_BACKEND is respected; the one BACKEND line overrides it.
    assert "Keras backend: torch (" in _run_setup_cell(
        sys.executable, source, env=env, KERAS_BACKEND="torch").stdout
    edited = source.replace('\nBACKEND = ""\n', '\nBACKEND = "tensorflow"\n')
    assert "Keras backend: tensorflow (" in _run_setup_cell(
        sys.executable, edited, env=env, KERAS_BACKEND="torch").stdout
    # A chosen backend that is missing is named with its extra; keras_semppl is
    # installed, so nothing is installed (the bogus SEMPPL_PIP_SPEC would fail).
    missing = _run_setup_cell(sys.executable, source, hide=("jax",), env=env,
                              KERAS_BACKEND="jax")
    assert missing.returncode != 0 and "installing" not in missing.stdout
    assert 'pip install "keras-semppl[jax]"' in missing.stderr, missing.stderr[-2000:]
    # A TPU runtime: JAX, whatever else is installed; another backend is refused.
    tpu = _run_setup_cell(sys.executable, source, env=env, COLAB_TPU_ADDR="10.0.0.2:8470")
    assert tpu.returncode == 0, tpu.stderr[-2000:]
    assert "Keras backend: jax (tpu runtime)" in tpu.stdout
    other = _run_setup_cell(sys.executable, source, env=env, COLAB_TPU_ADDR="10.0.0.2:8470",
                            KERAS_BACKEND="torch")
    assert other.returncode != 0
    assert "TPU runtime" in other.stderr and "trains with JAX" in other.stderr, other.stderr
    # Its install: requirements/tpu.txt's packages (tensorflow-cpu, jax[tpu]),
    # then keras-semppl without dependencies (not run here: no TPU, no network).
    packages = [line for line in (REPO / "requirements" / "tpu.txt").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    assert any(p.startswith("tensorflow-cpu==") for p in packages)
    assert any(p.startswith("jax[tpu]") for p in packages)
    assert repr(packages) in source and '"--no-deps"' in source


# Runs in the fresh venv: executes the notebook and writes it back with outputs.
_EXECUTE = """
import sys
import nbclient, nbformat
nb = nbformat.read(sys.argv[1], as_version=4)
nbclient.NotebookClient(nb, timeout=int(sys.argv[4]), kernel_name="python3",
                        resources={"metadata": {"path": sys.argv[2]}}).execute()
nbformat.write(nb, sys.argv[3])
"""


#: Installed in the runner but hidden from the [tensorflow]-only fresh venv.
OTHER_BACKENDS = ("jax", "jaxlib", "jax_plugins", "torch", "functorch", "torchgen")


@pytest.mark.backend_free  # once: the install path is the same for every backend
@pytest.mark.integration
@pytest.mark.slow
def test_notebook_runs_in_a_tensorflow_only_fresh_venv_that_installs_the_wheel(
        cifar_env, tmp_path):
    """A [tensorflow]-only venv, KERAS_BACKEND unset: the notebook picks tensorflow,
    installs the wheel and runs; with KERAS_BACKEND set its set-up cell follows it."""
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    wheel = fresh_venv.build_wheel(tmp_path / "dist")
    bin_dir = fresh_venv.make_venv(tmp_path / "venv", leave_out=OTHER_BACKENDS)
    probe = [str(bin_dir / "python"), "-c", "import keras_semppl; print(keras_semppl.__file__)"]
    work = tmp_path / "colab"
    work.mkdir()
    env = fresh_venv.clean_env(bin_dir, SEMPPL_PIP_SPEC=str(wheel),
                               SEMPPL_PIP_OPTIONS="--no-deps --no-index")
    cifar_env = dict(cifar_env)
    cifar_env.pop("KERAS_BACKEND")  # the notebook chooses
    for name in ("KERAS_BACKEND", "SEMPPL_EXAMPLE_TINY", "SEMPPL_OUTPUT_DIR",
                 "SEMPPL_CIFAR_TAR", "SEMPPL_CIFAR_ROOT", "TF_CPP_MIN_LOG_LEVEL"):
        env.pop(name, None)
        if name in cifar_env:
            env[name] = cifar_env[name]  # the kernel inherits them
    before = subprocess.run(probe, cwd=work, env=env, capture_output=True, text=True)
    assert before.returncode != 0, f"the fresh venv already has keras_semppl: {before.stdout}"
    others = subprocess.run([str(bin_dir / "python"), "-c", "import jax"], cwd=work, env=env,
                            capture_output=True, text=True)
    assert others.returncode != 0, "the fresh venv is not [tensorflow]-only"

    executed = tmp_path / "executed.ipynb"
    result = subprocess.run([str(bin_dir / "python"), "-c", _EXECUTE, str(NOTEBOOK), str(work),
                             str(executed), str(TIMEOUT)], cwd=work, env=env,
                            capture_output=True, text=True, timeout=2 * TIMEOUT)
    assert result.returncode == 0, result.stderr[-6000:]
    after = subprocess.run(probe, cwd=work, env=env, capture_output=True, text=True)
    assert after.stdout.strip().startswith(str(tmp_path / "venv")), (after.stdout, after.stderr)

    nb = nbformat.read(executed, as_version=4)
    setup_printed = "".join(output.get("text", "") for output in _setup_cell(nb).outputs)
    assert re.search(r"^Keras backend: tensorflow \((cpu|gpu) runtime\)$", setup_printed, re.M)
    assert f"installing {wheel}" in setup_printed
    outputs = [output for cell in nb.cells for output in cell.get("outputs", [])]
    printed = "".join(output.get("text", "") for output in outputs
                      if output.get("name") == "stdout")
    summary = json.loads(printed.strip().splitlines()[-1])
    assert summary["backend"] == NOTEBOOK_BACKEND
    assert 0.0 <= summary["knn_accuracy"] <= 1.0
    assert 0.0 <= summary["final_pseudo_label_accuracy"] <= 1.0
    _check_saved(summary, "cifar10_semppl.keras", "cifar10_encoder.keras")
    # Views grid, training curves and the embedding map are shown inline.
    pictures = [output for output in outputs if "image/png" in output.get("data", {})]
    assert len(pictures) == 3, len(pictures)

    # KERAS_BACKEND set (the set-up cell alone, in the same venv, now with the wheel).
    source = _setup_cell(nb).source
    chosen = _run_setup_cell(bin_dir / "python", source, env=env, KERAS_BACKEND="tensorflow")
    assert chosen.returncode == 0, chosen.stderr[-2000:]
    assert "Keras backend: tensorflow (" in chosen.stdout and "installing" not in chosen.stdout
    wanted = _run_setup_cell(bin_dir / "python", source, env=env, KERAS_BACKEND="jax")
    assert wanted.returncode != 0 and 'pip install "keras-semppl[jax]"' in wanted.stderr

"""Generates a Colab notebook from a literate keras-io style example.

    python examples/make_notebook.py                 # writes colab/cifar10_semppl.ipynb
    python examples/make_notebook.py --check         # exit 1 if the notebook is stale
    python examples/make_notebook.py SRC.py OUT.ipynb

The example's layout (keras-io's): a header docstring with `Title:`,
`Author:`, ... lines, then code separated by markdown blocks written as
module-level triple-quoted strings. The header becomes a title cell, each
markdown block a markdown cell, and the code between two blocks a code cell.
After the title, two cells are added here: a note on running it, and the
set-up cell, the one place that sets ``KERAS_BACKEND`` (``BACKEND``; empty:
``KERAS_BACKEND`` if set, else the first of jax, tensorflow, torch that is
installed). It stops with what to do on a TPU runtime, installs keras-semppl
with the backend's extra when the package is not installed (from
``SEMPPL_PIP_SPEC`` if set, else ``git+`` the repository URL that setup.py
declares, with the pip options in ``SEMPPL_PIP_OPTIONS``), and asks for a
restart when pip changed a package the session had already imported.

The output is a pure function of the source (fixed cell ids, no outputs, no
timestamps), so a test can compare the committed notebook with a fresh
generation: never edit the notebook by hand, edit the example and rerun this.
"""

import argparse
import pathlib
import re
import sys

import nbformat

REPO = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO / "examples" / "cifar10_semppl.py"
DEFAULT_OUTPUT = REPO / "colab" / "cifar10_semppl.ipynb"


def repository_url():
    """REPOSITORY_URL as declared in setup.py (the one place it is written)."""
    match = re.search(r'^REPOSITORY_URL = "([^"]+)"', (REPO / "setup.py").read_text(), re.M)
    if not match:
        raise ValueError("setup.py does not declare REPOSITORY_URL.")
    return match.group(1)


def tpu_requirements():
    """The packages of requirements/tpu.txt (the one place they are written)."""
    lines = (REPO / "requirements" / "tpu.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


#: What the set-up cell installs when `keras_semppl` is not installed, with
#: the chosen backend as the extra.
PIP_SPEC = f"keras-semppl[{{BACKEND}}] @ git+{repository_url()}"
#: On a TPU runtime: JAX with libtpu and the core requirements with
#: tensorflow-cpu (tf.data never opens the TPU), then keras-semppl without
#: dependencies.
TPU_PACKAGES = tpu_requirements()
TPU_SPEC = f"keras-semppl @ git+{repository_url()}"

#: Between the title and the set-up cell: how to run the notebook.
RUN_NOTE = """\
**Running it:** run the cells in order. The set-up cell below picks the Keras
backend (edit `BACKEND` there to choose one), installs keras-semppl with that
backend's extra if it is missing, and says so if Colab must restart the
session afterwards (Runtime > Restart session, then run from the top; the
install is kept). On a Colab TPU runtime it trains with JAX on the TPU and
installs TensorFlow as `tensorflow-cpu`, for the input pipeline only."""

SETUP_CELL = f'''\
# Set-up. The one place that sets the Keras backend: "jax", "tensorflow" or
# "torch". Left empty, it is KERAS_BACKEND if that is set, else the first of
# jax, tensorflow, torch that is installed (tensorflow if none is).
BACKEND = ""

import glob
import importlib
import importlib.metadata
import importlib.util
import os
import shlex
import shutil
import subprocess
import sys


def installed(module):
    return importlib.util.find_spec(module) is not None


def runtime():
    """"tpu", "gpu" or "cpu": what this Python session runs on (Colab or elsewhere)."""
    if (os.environ.get("COLAB_TPU_ADDR") or os.environ.get("TPU_ACCELERATOR_TYPE")
            or glob.glob("/dev/accel[0-9]*")):
        return "tpu"
    if os.path.exists("/dev/nvidiactl") or shutil.which("nvidia-smi"):
        return "gpu"
    return "cpu"


RUNTIME = runtime()
if RUNTIME == "tpu":
    # JAX trains on the TPU; TensorFlow serves tf.data only.
    BACKEND = BACKEND or os.environ.get("KERAS_BACKEND") or "jax"
    if BACKEND != "jax":
        raise SystemExit(
            f"BACKEND={{BACKEND!r}}: on a TPU runtime keras-semppl trains with JAX; set "
            "BACKEND = \\"jax\\" (or leave it empty), or switch to a GPU or CPU runtime "
            "(Runtime > Change runtime type), then run this cell again.")
BACKEND = BACKEND or os.environ.get("KERAS_BACKEND") or next(
    (name for name in ("jax", "tensorflow", "torch") if installed(name)), "tensorflow")
if BACKEND not in ("jax", "tensorflow", "torch"):
    raise SystemExit(f"BACKEND={{BACKEND!r}}: choose jax, tensorflow or torch.")
os.environ["KERAS_BACKEND"] = BACKEND
print(f"Keras backend: {{BACKEND}} ({{RUNTIME}} runtime)")

if not installed("keras_semppl"):
    # SEMPPL_PIP_SPEC replaces what pip installs; SEMPPL_PIP_OPTIONS adds pip options.
    # On a GPU runtime the preinstalled CUDA builds of the backends are kept.
    watched = {{"keras": "keras", "numpy": "numpy", "tensorflow": "tensorflow",
               "jax": "jax", "torch": "torch", "scikit-learn": "sklearn",
               "matplotlib": "matplotlib"}}

    def versions():
        found = {{}}
        for dist in watched:
            try:
                found[dist] = importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                found[dist] = None
        return found

    before = versions()
    spec = (os.environ.get("SEMPPL_PIP_SPEC")
            or f"{PIP_SPEC}")
    options = shlex.split(os.environ.get("SEMPPL_PIP_OPTIONS", ""))
    if RUNTIME == "tpu":
        spec = os.environ.get("SEMPPL_PIP_SPEC") or "{TPU_SPEC}"
        packages = {TPU_PACKAGES!r}
        print(f"installing {{' '.join(packages)}}, then {{spec}} without dependencies")
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", *options,
                               *packages])
        options = [*options, "--no-deps"]
    print(f"installing {{spec}}")
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", *options, spec])
    importlib.invalidate_caches()
    after = versions()
    stale = [dist for dist, module in watched.items()
             if module in sys.modules and before[dist] != after[dist]]
    if stale:
        raise SystemExit(
            f"pip changed {{', '.join(stale)}}, already imported in this session: restart it "
            "(Runtime > Restart session), then run the notebook from the top.")
if not installed(BACKEND):
    raise SystemExit(
        f"The {{BACKEND}} backend is not installed: pip install \\"keras-semppl[{{BACKEND}}]\\", "
        "or set BACKEND above to an installed one.")'''

_BLOCK = re.compile(r'^"""\n(.*?)\n"""\n', re.S | re.M)
_HEADER_FIELD = re.compile(r"^([A-Z][A-Za-z ]*):\s*(.*)$")


def _header_markdown(text):
    """The metadata block as a title and a field list."""
    fields = {}
    for line in text.strip().splitlines():
        match = _HEADER_FIELD.match(line.strip())
        if not match:
            raise ValueError(f"Header line is not `Field: value`: {line!r}")
        fields[match.group(1)] = match.group(2)
    if "Title" not in fields:
        raise ValueError("The header needs a `Title:` line.")
    lines = [f"# {fields.pop('Title')}", ""]
    lines += [f"**{name}:** {value}<br>" for name, value in fields.items()]
    if lines[-1].endswith("<br>"):
        lines[-1] = lines[-1][: -len("<br>")]
    return "\n".join(lines)


def split_example(source):
    """[(kind, text)] with kind "markdown" or "code", in file order."""
    cells, position, first = [], 0, True
    for match in _BLOCK.finditer(source):
        code = source[position:match.start()].strip("\n")
        if code.strip():
            if first:
                raise ValueError("The example must start with its header docstring.")
            cells.append(("code", code))
        text = match.group(1).strip("\n")
        cells.append(("markdown", _header_markdown(text) if first else text))
        first = False
        position = match.end()
    tail = source[position:].strip("\n")
    if tail.strip():
        cells.append(("code", tail))
    if first:
        raise ValueError("No markdown block found: not a literate example.")
    return cells


def make_notebook(source):
    """The notebook (as JSON text) generated from the example's source text."""
    example = split_example(source)
    # Title first, then how to run it, then the set-up cell, then the example.
    cells = example[:1] + [("markdown", RUN_NOTE), ("code", SETUP_CELL)] + example[1:]
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        (nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell)(
            text, id=f"cell-{index}")
        for index, (kind, text) in enumerate(cells)
    ]
    nb.metadata = {
        "accelerator": "GPU",
        "colab": {"provenance": [], "gpuType": "T4"},
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    nbformat.validate(nb)
    return nbformat.writes(nb)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", default=str(DEFAULT_SOURCE))
    parser.add_argument("output", nargs="?", default=str(DEFAULT_OUTPUT))
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 when OUTPUT differs from a fresh generation")
    args = parser.parse_args(argv)
    text = make_notebook(pathlib.Path(args.source).read_text(encoding="utf-8")) + "\n"
    output = pathlib.Path(args.output)
    if args.check:
        current = output.read_text(encoding="utf-8") if output.exists() else None
        if current != text:
            print(f"{output} is stale: run `python examples/make_notebook.py`.", file=sys.stderr)
            return 1
        return 0
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

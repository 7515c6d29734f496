"""Generates a Colab notebook from a literate keras-io style example.

    python examples/make_notebook.py                 # writes colab/cifar10_semppl.ipynb
    python examples/make_notebook.py --check         # exit 1 if the notebook is stale
    python examples/make_notebook.py SRC.py OUT.ipynb

The example's layout (keras-io's): a header docstring with `Title:`,
`Author:`, ... lines, then code separated by markdown blocks written as
module-level triple-quoted strings. The header becomes a title cell, each
markdown block a markdown cell, and the code between two blocks a code cell.
The notebook's first cell is added here: it picks the backend through
`KERAS_BACKEND` and installs keras-semppl unless it is already importable,
from ``SEMPPL_PIP_SPEC`` (default: ``git+`` the repository URL that setup.py
declares) with the pip options in ``SEMPPL_PIP_OPTIONS``.

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


#: What the first cell installs when `keras_semppl` is not importable.
PIP_SPEC = f"git+{repository_url()}"

SETUP_CELL = f'''\
# Set-up: pick the Keras backend ("jax", "tensorflow" or "torch") before Keras
# is imported, and install keras-semppl unless it is already installed:
# SEMPPL_PIP_SPEC is what pip installs (default: the repository), and
# SEMPPL_PIP_OPTIONS adds pip options.
import importlib
import os
import shlex
import subprocess
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")

try:
    import keras_semppl  # noqa: F401
except ImportError:
    spec = os.environ.get("SEMPPL_PIP_SPEC", "{PIP_SPEC}")
    options = shlex.split(os.environ.get("SEMPPL_PIP_OPTIONS", ""))
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", *options, spec])
    importlib.invalidate_caches()'''

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
    cells = [("code", SETUP_CELL)] + split_example(source)
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

"""The TPU install: setup.py's ``[tpu]`` extra and requirements/tpu.txt.

Read as text (no wheel is built): the extra adds JAX with libtpu, and the
requirements file installs every core requirement of setup.py, with
``tensorflow-cpu`` in place of ``tensorflow`` and the versions of
requirements/constraints.txt.
"""

import ast
import pathlib
import re

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]


def _assigned(name):
    """The literal assigned to ``name`` at the top of setup.py."""
    for node in ast.parse((REPO / "setup.py").read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == name:
            return ast.literal_eval(node.value)
    raise AssertionError(f"setup.py assigns no {name}")


def _name(requirement):
    return re.split(r"[\[<>=!~; ]", requirement.strip(), maxsplit=1)[0].lower()


def _lines(path):
    return [line.split("#")[0].strip() for line in (REPO / path).read_text().splitlines()
            if line.split("#")[0].strip()]


@pytest.mark.backend_free
def test_tpu_extra_adds_jax_with_libtpu():
    extras = _assigned("extras")
    assert [_name(r) for r in extras["tpu"]] == ["jax"]
    assert "[tpu]" in extras["tpu"][0]


@pytest.mark.backend_free
def test_tpu_requirements_swap_tensorflow_for_tensorflow_cpu_only():
    core = {_name(r) for r in _assigned("install_requires")}
    tpu = {_name(r): r for r in _lines("requirements/tpu.txt")}
    assert "tensorflow" not in tpu, "tensorflow and tensorflow-cpu would overwrite each other"
    assert set(tpu) == (core - {"tensorflow"}) | {"tensorflow-cpu", "jax"}
    assert "[tpu]" in tpu["jax"]
    pins = dict(line.split("==") for line in _lines("requirements/constraints.txt"))
    assert tpu["tensorflow-cpu"] == f"tensorflow-cpu=={pins['tensorflow']}"
    for name in ("keras", "tensorboard"):
        assert tpu[name] == f"{name}=={pins[name]}"
    assert tpu["jax"] == f"jax[tpu]=={pins['jax']}"

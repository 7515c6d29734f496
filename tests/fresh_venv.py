"""A fresh virtual environment without keras-semppl, for install tests.

The heavy dependencies (Keras, TensorFlow, JAX, torch, ...) are not installed
again: the new environment sees the test runner's site-packages through a
`.pth` file, by way of a folder of links that leaves out every keras-semppl
entry (its editable install, its metadata). Nothing is downloaded.
"""

import os
import pathlib
import subprocess
import sys
import sysconfig

REPO = pathlib.Path(__file__).resolve().parents[1]
#: Entries of the runner's site-packages that the fresh environment must not see.
_OURS = ("keras_semppl", "__editable__", "keras-semppl", "_keras_semppl", "easy-install.pth")


_WHEELS = []  # the wheel built by this test process, reused by later calls


def build_wheel(out_dir):
    """`pip wheel --no-deps` of the repository into ``out_dir``; returns the wheel's path.

    Built once per test process: later calls return that wheel while it exists.
    """
    if _WHEELS and _WHEELS[0].is_file():
        return _WHEELS[0]
    out_dir = pathlib.Path(out_dir)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--no-index", "-q", "-w", str(out_dir), str(REPO)],
                   check=True, capture_output=True, text=True, timeout=300)
    wheels = sorted(out_dir.glob("keras_semppl-*.whl"))
    assert len(wheels) == 1, wheels
    _WHEELS[:] = [wheels[0]]
    return wheels[0]


def _normal(name):
    return name.lower().replace("-", "_")


def _shared_site_packages(folder, leave_out=()):
    """A folder of links to the runner's site-packages, ours and ``leave_out`` left out."""
    folder.mkdir(parents=True)
    left_out = tuple(_normal(name) for name in leave_out)
    for source in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}:
        for entry in pathlib.Path(source).iterdir():
            if entry.name.lower().replace("-", "_").startswith(tuple(
                    name.replace("-", "_") for name in _OURS)):
                continue
            if entry.suffix == ".pth":  # other editable installs, hooks: not shared
                continue
            # A distribution's package folder and its metadata ("jax", "jax-0.4.dist-info").
            if _normal(entry.name.split("-")[0].split(".")[0]) in left_out:
                continue
            target = folder / entry.name
            if not target.exists():
                target.symlink_to(entry)
    return folder


def make_venv(root, leave_out=()):
    """A new venv at ``root`` that shares the runner's dependencies.

    Args:
        leave_out: top-level names not shared, as if not installed (e.g.
            ``("jax", "jaxlib", "torch")`` for a ``[tensorflow]``-only install).

    Returns:
        The path of its ``bin`` folder.
    """
    root = pathlib.Path(root)
    # Without its own pip: the shared site-packages bring the runner's pip.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True,
                   timeout=300)
    shared = _shared_site_packages(root.parent / f"{root.name}-shared", leave_out)
    python = root / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True).stdout.strip()
    pathlib.Path(purelib, "shared_dependencies.pth").write_text(f"{shared}\n")
    return root / "bin"


def clean_env(bin_dir, **extra):
    """Environment for commands in the venv: its bin first, no PYTHONPATH to the checkout."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(pathlib.Path(bin_dir).parent)
    env["PIP_NO_INDEX"] = "1"  # never download
    env.update(extra)
    return env

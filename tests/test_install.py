"""Installs outside the checkout, and the README as a user reads it.

* The wheel (`pip wheel --no-deps .`) installs, not editable, into a fresh
  virtual environment (`tests/fresh_venv.py`), and the README's command-line
  sequence (train, evaluate, plot), parsed from README.md, runs there from a
  temporary folder exactly as written, plus the quick-check flags that the
  README itself documents.
* The README starts with the main job's and the tests' commands, names no
  path of the machine it was written on, and its Colab link points at the
  repository declared in setup.py.
"""

import pathlib
import re
import shlex
import subprocess
import time

import pytest

from tests import fresh_venv

REPO = pathlib.Path(__file__).resolve().parents[1]
README = REPO / "README.md"


def _repository_url():
    match = re.search(r'^REPOSITORY_URL = "([^"]+)"', (REPO / "setup.py").read_text(), re.M)
    assert match, "setup.py declares REPOSITORY_URL"
    return match.group(1)


def readme_cli_sequence(text):
    """[argv] of the `semppl` lines in the README's "Command line" section,
    each with the quick-check flags the README documents for that command."""
    section = text.split("\n## Command line", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    commands = [shlex.split(line) for line in block.splitlines() if line.startswith("semppl ")]
    quick = dict((command, shlex.split(flags)) for flags, command in re.findall(
        r"`(--[^`]+)` to `semppl (\w+)`", " ".join(section.split())))
    assert [c[1] for c in commands] == ["train", "evaluate", "plot"], commands
    assert set(quick) == {"train", "evaluate"}, quick
    return [argv + quick.get(argv[1], []) for argv in commands]


@pytest.mark.backend_free
def test_readme_starts_with_the_main_job_and_the_ci_command():
    text = README.read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)\n```", text, re.S)
    assert blocks[0].startswith("python3 -m venv .venv && ") and "semppl train" in blocks[0]
    ci_last = (REPO / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert blocks[1] == ci_last
    assert text.index(blocks[1]) < text.index("## What it is")


@pytest.mark.backend_free
def test_user_facing_text_names_no_workplace_path_or_issue():
    pages = [README, REPO / "examples" / "README.md", REPO / "examples" / "cifar10_semppl.py",
             REPO / "colab" / "cifar10_semppl.ipynb", *sorted((REPO / "docs").glob("*.md"))]
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for pattern in (r"\.\./shared", r"/work/", r"\bissue\s*#?\d+", r"(?<![\w&])#\d{1,3}\b"):
            found = re.search(pattern, text, re.I)
            assert not found, f"{page.name}: {found.group(0)!r}"


@pytest.mark.backend_free
def test_colab_link_and_citation_point_at_the_repository():
    url = _repository_url()
    slug = url.split("github.com/", 1)[1]
    text = README.read_text(encoding="utf-8")
    assert (f"https://colab.research.google.com/github/{slug}/blob/main/"
            "colab/cifar10_semppl.ipynb") in text
    assert url in (REPO / "CITATION.cff").read_text(encoding="utf-8")


@pytest.mark.backend_free
@pytest.mark.integration
@pytest.mark.slow
def test_wheel_installs_in_a_fresh_venv_and_the_readme_sequence_runs(tmp_path):
    wheel = fresh_venv.build_wheel(tmp_path / "dist")
    bin_dir = fresh_venv.make_venv(tmp_path / "venv")
    env = fresh_venv.clean_env(bin_dir, KERAS_BACKEND="tensorflow")
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # a user's default: the command quiets TensorFlow
    work = tmp_path / "user"
    work.mkdir()
    subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "-q", "--no-deps",
                    str(wheel)], cwd=work, env=env, check=True, timeout=300)
    where = subprocess.run([str(bin_dir / "python"), "-c",
                            "import keras_semppl_cli, keras_semppl; print(keras_semppl.__file__)"],
                           cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert where.returncode == 0, where.stderr[-3000:]
    assert where.stdout.strip().startswith(str(tmp_path / "venv")), where.stdout

    start = time.time()
    helped = subprocess.run(["semppl", "--help"], cwd=work, env=env, capture_output=True,
                            text=True, timeout=60)
    assert helped.returncode == 0 and "train" in helped.stdout
    assert time.time() - start < 3.0  # the interpreter's start included

    for argv in readme_cli_sequence(README.read_text(encoding="utf-8")):
        result = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True,
                                timeout=600)
        assert result.returncode == 0, (argv, result.stdout[-2000:], result.stderr[-4000:])
        assert not result.stderr.strip(), (argv, result.stderr[-2000:])
    for produced in ("runs/semppl_digits.keras", "runs/semppl_digits.history.json",
                     "runs/semppl_digits_plots/training_curves.png",
                     "runs/semppl_digits_plots/tsne.png"):
        assert (work / produced).is_file(), produced
    assert list((work / "runs" / "logs" / "train").glob("events.out.tfevents.*"))


def readme_python_example(text):
    """The Python block of the README's "Python API" section."""
    section = text.split("\n## Python API", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.backend_free  # once: the example is backend-agnostic; the log lines are TensorFlow's
@pytest.mark.integration
@pytest.mark.slow
def test_readme_python_example_runs_quietly_and_saves_a_small_model(tmp_path):
    import os
    import sys

    code = readme_python_example(README.read_text(encoding="utf-8"))
    # The shortest schedule (2 warm-up epochs + 1), 2 steps an epoch.
    fewer = code.replace("epochs, steps = 10, ", "dataset = dataset.take(2)\nepochs, steps = 3, ")
    assert fewer != code
    env = dict(os.environ, PYTHONPATH=str(REPO), KERAS_BACKEND="tensorflow")
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # as a user runs it: TensorFlow's log unfiltered
    result = subprocess.run([sys.executable, "-c", fewer], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    # The data pipeline's input checks no longer make TensorFlow's graph
    # optimizer log "Skipping loop optimization" at every epoch's start.
    assert "Skipping loop optimization" not in result.stderr, result.stderr[-3000:]
    # With `semppl train`'s head sizes the saved model is about 4 MB (the
    # default 4096-wide heads would make it about 64 MB).
    size = (tmp_path / "semppl.keras").stat().st_size
    assert 1e6 < size < 8e6, size

"""Atomic writes: a save killed mid-write leaves the previous file intact and
loadable; damaged .keras files are named as such."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from keras_semppl.io.atomic import atomic_path
from keras_semppl.io.atomic import check_keras_file
from keras_semppl.io.atomic import check_writable_folder
from keras_semppl.io.atomic import write_text

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Saves a ~200 MB model to PATH again and again, through save_model.
_SAVER = """
import sys
import keras
from keras_semppl.io.atomic import save_model
model = keras.Sequential([keras.Input((8192,)), keras.layers.Dense(6144, use_bias=False)])
print("ready", flush=True)
while True:
    save_model(model, sys.argv[1])
"""


def _small_model(value):
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.set_weights([np.full((3, 2), value, "float32"), np.zeros(2, "float32")])
    return model


@pytest.mark.backend_free
@pytest.mark.integration
def test_kill_during_save_leaves_the_previous_model_loadable(tmp_path):
    import keras

    from keras_semppl.io.atomic import save_model

    path = tmp_path / "model.keras"
    save_model(_small_model(7.0), path)
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-c", _SAVER, str(path)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        deadline = time.time() + 120
        # Kill once the temporary file has grown: the save is mid-write.
        while time.time() < deadline:
            temps = [n for n in os.listdir(tmp_path) if n.startswith(".model.keras.tmp-")]
            if temps and os.path.getsize(tmp_path / temps[0]) > 1_000_000:
                break
            time.sleep(0.01)
        else:
            pytest.fail("the save never started")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    check_keras_file(path)
    weights = keras.saving.load_model(path).get_weights()
    np.testing.assert_array_equal(weights[0], np.full((3, 2), 7.0, "float32"))


@pytest.mark.backend_free
def test_failed_write_keeps_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "report.json"
    write_text(path, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            with open(tmp, "w") as f:
                f.write("half")
            raise RuntimeError("killed")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["report.json"]


@pytest.mark.backend_free
def test_truncated_and_foreign_keras_files_are_named(tmp_path):
    from keras_semppl.io.atomic import save_model

    good = tmp_path / "good.keras"
    save_model(_small_model(1.0), good)
    data = good.read_bytes()
    cut = tmp_path / "cut.keras"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a complete .keras file.*truncated"):
        check_keras_file(cut)
    with pytest.raises(ValueError, match="does not exist"):
        check_keras_file(tmp_path / "missing.keras")
    (tmp_path / "x.zip").write_bytes(b"")
    import zipfile

    with zipfile.ZipFile(tmp_path / "other.keras", "w") as archive:
        archive.writestr("a.txt", "hello")
    with pytest.raises(ValueError, match="not a Keras model"):
        check_keras_file(tmp_path / "other.keras")


@pytest.mark.backend_free
def test_writable_folder_check_names_the_argument(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="--output .* is a file, not a folder"):
        check_writable_folder(tmp_path / "file" / "sub" / "m.keras")
    with pytest.raises(ValueError, match="is a folder"):
        check_writable_folder(tmp_path, "--report-json")
    assert check_writable_folder(tmp_path / "new" / "m.keras") == str(tmp_path / "new")

"""`semppl train --augment-on host|device` and the log it prints."""

import os
import subprocess
import sys

import keras
import pytest

from keras_semppl.augment import DeviceViews
from keras_semppl.cli.main import main
from tests.toy_data import TINY_TRAIN_ARGS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = TINY_TRAIN_ARGS + ["--steps-per-epoch", "2", "--verbose", "0", "--no-baseline"]


@pytest.mark.backend("tensorflow", reason="the tf.data pipeline's C++ log is the same under "
                     "every backend: checked once")
def test_default_train_prints_no_predict_cost_lines(tmp_path):
    """tf.image.crop_and_resize in tf.data logged `PredictCost ... CropAndResize`
    (TensorFlow C++ warnings, so all log levels are on here)."""
    argv = ["train"] + TINY + ["--no-classical", "--output", str(tmp_path / "m.keras")]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="0", PYTHONPATH=ROOT)
    proc = subprocess.run(
        [sys.executable, "-c", f"from keras_semppl.cli.main import main; raise SystemExit(main({argv!r}))"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    assert "held-out accuracy" in log
    assert "PredictCost" not in log


def test_augment_on_device_trains_and_saves_device_views(tmp_path):
    out = tmp_path / "m.keras"
    assert main(["train"] + TINY + ["--augment-on", "device", "--output", str(out)]) == 0
    loaded = keras.models.load_model(out)
    assert isinstance(loaded.view_augmentation, DeviceViews)
    one, two = loaded.view_augmentation.large_specs
    assert (one.blur_prob, two.blur_prob, one.flip_prob) == (0.5, 0.1, 0.0)  # digits preset


def test_augment_on_rejects_unknown_placement(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--augment-on", "tpu"])
    assert "--augment-on" in capsys.readouterr().err

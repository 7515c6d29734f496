"""A short `semppl train --logdir DIR`: nothing on stderr (no TensorFlow C++
log, no Keras warning), and TensorBoard's own reader finds the loss terms,
pseudo-label accuracy, learning rate and held-out k-NN accuracy per epoch."""

import glob
import os
import subprocess
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EPOCHS = 2


def _scalars(run_dir):
    """{tag: [value per step]} of a TensorBoard run folder, read with TensorBoard."""
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.util import tensor_util

    reader = event_accumulator.EventAccumulator(
        run_dir, size_guidance={event_accumulator.TENSORS: 0, event_accumulator.SCALARS: 0})
    reader.Reload()
    values = {tag: [event.value for event in reader.Scalars(tag)]
              for tag in reader.Tags()["scalars"]}
    for tag in reader.Tags()["tensors"]:  # Keras writes summary-v2 tensors
        values[tag] = [float(tensor_util.make_ndarray(event.tensor_proto))
                       for event in reader.Tensors(tag)]
    return values


@pytest.mark.integration
def test_short_train_is_quiet_and_logs_to_tensorboard(tmp_path):
    pytest.importorskip("tensorboard")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = REPO
    logdir = tmp_path / "tb"
    command = [sys.executable, "-m", "keras_semppl_cli", "train", "--epochs", str(EPOCHS),
               "--steps-per-epoch", "2", "--no-baseline", "--no-classical", "--verbose", "2",
               "--logdir", str(logdir), "--output", str(tmp_path / "model.keras")]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    lines = result.stderr.splitlines()
    assert len(lines) == 0, f"{len(lines)} stderr lines:\n" + "\n".join(lines[:20])

    train = _scalars(str(logdir / "train"))
    for tag in ("epoch_loss", "epoch_l_augm", "epoch_l_sempos", "epoch_i_augm",
                "epoch_pseudo_label_accuracy", "epoch_learning_rate"):
        assert len(train.get(tag, ())) == EPOCHS, (tag, sorted(train))
        assert np.all(np.isfinite(train[tag])), (tag, train[tag])
    validation = _scalars(str(logdir / "validation"))
    knn = validation.get("epoch_knn_accuracy", ())
    assert len(knn) == EPOCHS and all(0.0 <= v <= 1.0 for v in knn), sorted(validation)
    assert glob.glob(str(logdir / "train" / "events.out.tfevents.*"))


@pytest.mark.backend_free
def test_stderr_filter_drops_tensorflow_start_up_lines_only():
    """Lines as TensorFlow 2.21's GPU build prints them on a CPU-only machine."""
    import keras_semppl_cli

    start_up = [
        "I0000 00:00:1796015310.843954    7852 cudart_stub.cc:31] Could not find cuda "
        "drivers on your machine, GPU will not be used.",
        "W0000 00:00:1796015310.843954    7852 port.cc:9] anything at warning level",
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    ]
    no_driver = ("E0000 00:00:1796015310.859000    7852 cuda_platform.cc:52] failed call to "
                 "cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)")
    kept = ["Epoch 1/2", "ValueError: --epochs must be positive",
            "E0000 00:00:1796015310.859000    7852 other.cc:52] a real error",
            "I0000 is not a log line without its source location"]
    assert all(keras_semppl_cli.is_noise(line, has_driver=False) for line in start_up)
    assert keras_semppl_cli.is_noise(no_driver, has_driver=False)
    assert not keras_semppl_cli.is_noise(no_driver, has_driver=True)
    assert not any(keras_semppl_cli.is_noise(line, has_driver=False) for line in kept)

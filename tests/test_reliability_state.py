"""What a checkpoint folder and `fit` refuse: a non-finite state is never
checkpointed, a folder of another backend or with a damaged record is named,
a full disk is one line, streams check labels before any cast, and empty
arrays are one error on every backend."""

import errno
import json
import os
import warnings

import keras
import numpy as np
import pytest

from keras_semppl.callbacks import DivergenceError
from keras_semppl.callbacks.checkpoint import AtomicCheckpoint
from keras_semppl.callbacks.checkpoint import fit_resumable
from keras_semppl.callbacks.checkpoint import latest_checkpoint
from tests.toy_data import tiny_model
from tests.toy_data import toy_batch_dict


def _compiled():
    keras.utils.set_random_seed(0)
    model = tiny_model(queue_size=16)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.optimizer.build(model.trainable_variables)
    return model


@pytest.fixture(scope="module")
def data():
    d = toy_batch_dict(n=32)
    return d["large_views"][0], d["large_views"][1], d["labels"]


def _epoch_dataset(data):
    import tensorflow as tf

    def make(epoch):
        return tf.data.Dataset.from_tensor_slices(data).batch(8, drop_remainder=True)
    return make


def _poison(model, what):
    """inf in a variable a checkpoint saves but no gradient touches."""
    if what == "batch_norm":
        variable = model.encoder.get_layer("block1_bn").moving_variance
    else:  # Adam's second moment: the weight update stays finite (m / sqrt(inf) = 0)
        variable = [v for v in model.optimizer.variables if v.path.endswith("velocity")][0]
    value = np.array(keras.ops.convert_to_numpy(variable))
    value.flat[0] = np.inf
    variable.assign(value)


def _ckpts(folder):
    return sorted(p for p in os.listdir(folder) if p.endswith(".keras")) \
        if os.path.isdir(folder) else []


@pytest.mark.parametrize("what", ["batch_norm", "optimizer"])
def test_non_finite_state_stops_fit_before_any_checkpoint(data, tmp_path, what):
    def build():
        model = _compiled()
        _poison(model, what)
        return model

    with pytest.raises(DivergenceError) as caught:
        fit_resumable(build, _epoch_dataset(data), epochs=1, steps_per_epoch=2,
                      checkpoint_dir=str(tmp_path), keep=2, verbose=0)
    message = str(caught.value)
    assert "optimizer step 1 (epoch 1, batch 1)" in message, message
    expected = "BatchNorm" if what == "batch_norm" else "optimizer state"
    assert expected in message, message
    assert "no checkpoint" in message, message
    assert _ckpts(tmp_path) == []


def test_divergence_after_a_resume_names_the_last_good_checkpoint_and_the_batch(
        data, tmp_path, monkeypatch):
    import keras_semppl.callbacks.checkpoint as checkpoint

    fit_resumable(_compiled, _epoch_dataset(data), epochs=1, steps_per_epoch=2,
                  checkpoint_dir=str(tmp_path), verbose=0)
    assert _ckpts(tmp_path) == ["ckpt-00000002.keras"]
    assert json.loads((tmp_path / "run.json").read_text()) == {
        "backend": keras.backend.backend()}
    load = keras.saving.load_model

    def load_and_poison(path, **kwargs):
        model = load(path, **kwargs)
        _poison(model, "batch_norm")
        return model

    monkeypatch.setattr(checkpoint.keras.saving, "load_model", load_and_poison)
    # 4 steps per epoch now: the resumed epoch skips 2, so the first step it
    # trains is batch 3 of epoch 1 (Keras counts it as the fit's batch 1).
    with pytest.raises(DivergenceError) as caught:
        fit_resumable(_compiled, _epoch_dataset(data), epochs=1, steps_per_epoch=4,
                      checkpoint_dir=str(tmp_path), verbose=0)
    message = str(caught.value)
    assert "optimizer step 3 (epoch 1, batch 3)" in message, message
    assert "ckpt-00000002.keras" in message, message
    assert _ckpts(tmp_path) == ["ckpt-00000002.keras"]


def test_a_checkpoint_of_a_non_finite_state_is_refused(tmp_path):
    model = _compiled()
    _poison(model, "batch_norm")
    callback = AtomicCheckpoint(str(tmp_path))
    callback.set_model(model)
    with pytest.raises(DivergenceError, match="moving_variance"):
        callback.on_epoch_end(0)
    assert _ckpts(tmp_path) == []


def test_a_full_disk_is_one_line_naming_the_folder_and_the_space_needed(tmp_path, monkeypatch):
    import keras_semppl.callbacks.checkpoint as checkpoint

    def full(model, path):
        raise OSError(errno.ENOSPC, "No space left on device", path)

    monkeypatch.setattr(checkpoint, "save_model", full)
    callback = AtomicCheckpoint(str(tmp_path / "ckpt"))
    callback.set_model(_compiled())
    with pytest.raises(checkpoint.CheckpointError) as caught:
        callback.on_epoch_end(0)
    message = str(caught.value)
    assert "\n" not in message and str(tmp_path / "ckpt") in message, message
    assert "no space left" in message.lower() and "needs about" in message, message


def test_a_checkpoint_folder_of_another_backend_is_refused(data, tmp_path):
    other = {"jax": "torch"}.get(keras.backend.backend(), "jax")
    (tmp_path / "run.json").write_text(json.dumps({"backend": other}))
    with pytest.raises(ValueError) as caught:
        fit_resumable(_compiled, _epoch_dataset(data), epochs=1, steps_per_epoch=2,
                      checkpoint_dir=str(tmp_path), verbose=0)
    message = str(caught.value)
    assert f"written under the {other} backend" in message, message
    assert "not bit-exact" in message and "\n" not in message, message
    assert _ckpts(tmp_path) == []


@pytest.mark.backend_free
def test_a_truncated_run_record_is_one_line_naming_it(tmp_path):
    from keras_semppl.callbacks.run_record import check_run_record

    (tmp_path / "run.json").write_text('{"seed": 0, "epo')
    with pytest.raises(ValueError) as caught:
        check_run_record(str(tmp_path), {"seed": 0})
    message = str(caught.value)
    assert str(tmp_path / "run.json") in message and "not valid JSON" in message, message
    assert "\n" not in message


@pytest.mark.backend_free
def test_a_plain_keras_model_as_newest_checkpoint_is_skipped_with_a_warning(tmp_path):
    good = tmp_path / "ckpt-00000002.keras"
    model = _compiled()
    model.save(good)
    plain = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    plain.save(tmp_path / "ckpt-00000004.keras")
    with pytest.warns(UserWarning, match="ckpt-00000004.keras.*not a training checkpoint"):
        assert latest_checkpoint(str(tmp_path)) == str(good)


@pytest.mark.parametrize("form, bad", [("tuple", 0.5), ("dict", np.nan)])
def test_a_tf_data_stream_refuses_non_integer_labels_before_any_cast(data, form, bad):
    import tensorflow as tf

    a, b, labels = data
    labels = labels.astype("float32")
    labels[5] = bad
    element = (a, b, labels) if form == "tuple" else {"large_views": (a, b), "labels": labels}
    stream = tf.data.Dataset.from_tensor_slices(element).batch(8, drop_remainder=True)
    model = _compiled()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(Exception, match="labels must be integers"):
            model.fit(stream, verbose=0)


@pytest.mark.parametrize("form", ["tuple", "dict", "x_y"])
def test_empty_arrays_are_one_error_on_every_backend(data, form):
    a, b, labels = (v[:0] for v in data)
    model = _compiled()
    with pytest.raises(ValueError, match=r"^fit received 0 examples; SemPPL needs at least one "
                                         r"full batch \(batch_size=8\)\.$"):
        if form == "tuple":
            model.fit((a, b, labels), batch_size=8, verbose=0)
        elif form == "dict":
            model.fit({"large_views": (a, b), "labels": labels}, batch_size=8, verbose=0)
        else:
            model.fit((a, b), labels, batch_size=8, verbose=0)

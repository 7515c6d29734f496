"""SemPPL.fit under bad inputs and bad dynamics: every input form is checked,
divergence raises, seed states are saved, a second fit warns at learning
rate 0, and jit_compile=True trains on torch (files saved on any backend:
tests/test_cross_backend_fit.py)."""

import warnings

import keras
import numpy as np
import pytest

from keras_semppl.callbacks import DivergenceError
from tests.toy_data import tiny_model
from tests.toy_data import toy_batch_dict


def _compiled(**kwargs):
    keras.utils.set_random_seed(0)
    model = tiny_model(queue_size=16)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), **kwargs)
    return model


@pytest.fixture(scope="module")
def data():
    d = toy_batch_dict(n=32)
    return d["large_views"][0], d["large_views"][1], d["labels"]


@pytest.fixture(scope="module")
def model():
    return _compiled()


@pytest.mark.parametrize("form", ["tuple", "list", "x_y"])
@pytest.mark.parametrize("bad_label", [12, -5])
def test_every_batch_form_checks_the_label_range(model, data, form, bad_label):
    a, b, labels = data
    labels = labels.copy()
    labels[3] = bad_label
    with pytest.raises(ValueError, match=rf"\[-1, 3\).*found \[{bad_label}\]"):
        if form == "tuple":
            model.fit((a, b, labels), batch_size=8, verbose=0)
        elif form == "list":
            model.fit([a, b, labels], batch_size=8, verbose=0)
        else:
            model.fit((a, b), labels, batch_size=8, verbose=0)


@pytest.mark.parametrize("form", ["dict", "tuple", "list"])
def test_nan_and_inf_pixels_are_counted_and_located(model, data, form):
    a, b, labels = data
    b = b.copy()
    b[5, 1, 2, 0] = np.nan
    b[9, 0, 0, 1] = np.inf
    batch = {"dict": {"large_views": (a, b), "labels": labels},
             "tuple": (a, b, labels), "list": [a, b, labels]}[form]
    with pytest.raises(ValueError, match=r"2 NaN or inf pixel value\(s\); the first is in "
                                         r"example 5 at index \(5, 1, 2, 0\)"):
        model.fit(batch, batch_size=8, verbose=0)


def test_uint8_and_out_of_range_images_are_rejected(model, data):
    a, b, labels = data
    as_bytes = (a * 255).astype("uint8")
    with pytest.raises(ValueError, match="dtype uint8 .*divide uint8 images by 255"):
        model.fit((as_bytes, as_bytes, labels), batch_size=8, verbose=0)
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        model.fit((a * 255, b, labels), batch_size=8, verbose=0)


def test_nan_pixels_in_a_tf_data_stream_stop_fit(data):
    import tensorflow as tf

    # Its own model: this fit fails mid-epoch, the others before training.
    model = _compiled()
    a, b, labels = data
    b = b.copy()
    b[2, 0, 0, 0] = np.nan
    stream = tf.data.Dataset.from_tensor_slices((a, b, labels)).batch(8, drop_remainder=True)
    with pytest.raises(Exception, match="NaN or inf pixel"):
        model.fit(stream, verbose=0)


@pytest.mark.backend_free
def test_make_training_dataset_rejects_nan_pixels(data):
    from keras_semppl.data.pipeline import make_training_dataset

    a, _, labels = data
    a = a.copy()
    a[4, 1, 1, 0] = np.nan
    with pytest.raises(ValueError, match=r"1 NaN or inf pixel value\(s\); the first is in "
                                         r"example 4"):
        make_training_dataset(a, labels, 8, lambda image, seed: ((image, image), ()))


def test_numpy_length_not_a_multiple_of_the_batch_trains_with_a_warning(model, data):
    a, b, labels = data
    with pytest.warns(UserWarning, match="of the 30 examples, the last 6 .* are dropped"):
        history = model.fit((a[:30], b[:30], labels[:30]), batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_non_finite_weights_stop_fit_naming_the_step(data):
    a, b, labels = data
    model = _compiled()
    model.fit((a, b, labels), batch_size=8, epochs=1, verbose=0)
    kernel = model.projector.trainable_variables[0]
    poisoned = keras.ops.convert_to_numpy(kernel).copy()
    poisoned[0, 0] = np.nan
    kernel.assign(poisoned)
    with pytest.raises(DivergenceError, match=r"optimizer step 5 \(epoch 1, batch 1\):.*"
                                              r"loss term\(s\) .*objective.*updated weights"):
        model.fit((a, b, labels), batch_size=8, epochs=2, verbose=0)


def test_logs_and_history_do_not_carry_the_check(model, data):
    a, b, labels = data
    history = model.fit((a, b, labels), batch_size=8, verbose=0)
    assert "nonfinite" not in history.history


def test_seed_states_are_saved_and_restored(data, tmp_path):
    a, b, labels = data
    model = _compiled()
    model.fit((a, b, labels), batch_size=8, verbose=0)
    seeds = [keras.ops.convert_to_numpy(g.state) for g in model.seed_generators()]
    assert len(seeds) >= 2 and not any(np.array_equal(s, seeds[0]) for s in seeds[1:])
    path = tmp_path / "m.keras"
    model.save(path)
    import keras_semppl.models  # noqa: F401

    revived = keras.saving.load_model(path)
    for generator, saved in zip(revived.seed_generators(), seeds):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(generator.state), saved)


def test_second_fit_continues_the_schedule_and_warns_at_zero_learning_rate(data):
    a, b, labels = data
    keras.utils.set_random_seed(0)
    model = tiny_model(queue_size=16)
    model.compile(optimizer=keras.optimizers.Adam(
        keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=4)))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        model.fit((a, b, labels), batch_size=8, verbose=0)  # steps 1-4: lr > 0 at the start
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 4
    with pytest.warns(UserWarning, match="learning rate of 0 .*optimizer step 8"):
        model.fit((a, b, labels), batch_size=8, verbose=0)
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 8


@pytest.mark.backend("torch")
def test_jit_compile_true_trains_on_torch(data):
    a, b, labels = data
    model = _compiled(jit_compile=True)
    with pytest.warns(UserWarning, match="jit_compile=True is ignored on the torch backend"):
        history = model.fit((a, b, labels), batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"][0])

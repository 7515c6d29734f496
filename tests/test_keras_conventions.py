"""SemPPL follows Keras' conventions: no silently ignored `compile` arguments,
no shuffle warning for `tf.data` input, and BYOL's EMA schedule over the
`fit` call's own length when `target_decay_steps` is not given."""

import warnings

import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from tests.toy_data import tiny_model
from tests.toy_data import toy_batch_dict


@pytest.mark.parametrize("argument,value", [("loss", "mse"), ("metrics", ["accuracy"]),
                                            ("loss_weights", [1.0]),
                                            ("weighted_metrics", ["accuracy"])])
def test_compile_rejects_loss_and_metrics(argument, value):
    model = tiny_model()
    with pytest.raises(ValueError, match=f"`{argument}` is not supported"):
        model.compile(optimizer="adam", **{argument: value})


def test_fit_sets_the_ema_schedule_from_its_own_length_without_a_shuffle_warning():
    data = toy_batch_dict(n=32)
    dataset = tf.data.Dataset.from_tensor_slices(data).batch(16, drop_remainder=True)
    model = tiny_model(queue_size=16)
    assert model.target_decay_steps is None
    model.compile(optimizer="adam")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(dataset, epochs=2, verbose=0)
    shuffle = [w for w in caught if "shuffle" in str(w.message)]
    assert not shuffle, [str(w.message) for w in shuffle]
    # 2 epochs x 2 steps: BYOL's cosine schedule ends at the last step, tau = 1.
    assert model.ema_horizon.total_steps == 4
    assert int(ops.convert_to_numpy(model.optimizer.iterations)) == 4
    np.testing.assert_allclose(float(ops.convert_to_numpy(model.target_decay)), 1.0,
                               atol=1e-6)
    assert model.get_config()["target_decay_steps"] is None  # the user's choice is kept


def test_a_second_fit_ends_its_ema_schedule_at_its_own_last_step():
    data = toy_batch_dict(n=32)
    dataset = tf.data.Dataset.from_tensor_slices(data).batch(16, drop_remainder=True)
    model = tiny_model(queue_size=16)
    model.compile(optimizer="adam")
    model.fit(dataset, epochs=1, verbose=0)
    assert model.ema_horizon.total_steps == 2
    # The step counter goes on (2 done); epochs 1-3 of 2 steps end at step 8.
    model.fit(dataset, epochs=4, initial_epoch=1, verbose=0)
    assert model.ema_horizon.total_steps == 4 * 2
    assert int(ops.convert_to_numpy(model.optimizer.iterations)) == 8
    np.testing.assert_allclose(float(ops.convert_to_numpy(model.target_decay)), 1.0,
                               atol=1e-6)


def _byol_tau(step, total, base):
    """BYOL's schedule written out independently (Grill et al. 2020, Sec. 3.2)."""
    k = min(max(step, 0), total)
    return 1.0 - (1.0 - base) * (np.cos(np.pi * k / total) + 1.0) / 2.0


def _taus(model, dataset, fits):
    """tau after every optimizer step, over the given ``fit`` keyword sets."""
    import keras

    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(float(ops.convert_to_numpy(self.model.target_decay)))

    for kwargs in fits:
        model.fit(dataset, verbose=0, callbacks=[Record()], **kwargs)
    return seen


def test_a_resumed_run_and_a_second_fit_end_on_the_schedule_of_one_call(tmp_path):
    import keras

    from keras_semppl.callbacks import fit_resumable
    from keras_semppl.io import save_model

    data = toy_batch_dict(n=32)
    dataset = tf.data.Dataset.from_tensor_slices(data).batch(16, drop_remainder=True)
    epochs, steps, base = 3, 2, 0.9

    def build():
        model = tiny_model(queue_size=16, target_decay_base=base)
        model.compile(optimizer="adam")
        return model

    one_call = _taus(build(), dataset, [dict(epochs=epochs)])
    expected = [_byol_tau(k, epochs * steps, base) for k in range(1, epochs * steps + 1)]
    np.testing.assert_allclose(one_call, expected, atol=1e-6)

    # A second fit continuing the first: it ends on the one call's schedule.
    split = _taus(build(), dataset, [dict(epochs=1), dict(epochs=epochs, initial_epoch=1)])
    np.testing.assert_allclose(split[-1], expected[-1], atol=1e-6)
    np.testing.assert_allclose(split[steps:], [_byol_tau(k, epochs * steps, base)
                                               for k in range(steps + 1, epochs * steps + 1)],
                               atol=1e-6)

    # A resumable run stopped after one epoch and resumed from its checkpoint
    # follows the whole run's schedule at every step, both before and after.
    first = build()
    first.set_run_length(epochs * steps)
    before = _taus(first, dataset, [dict(epochs=1)])
    save_model(first, tmp_path / "ckpt-00000002.keras")
    recorded = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            recorded.append(float(ops.convert_to_numpy(self.model.target_decay)))

    model, _ = fit_resumable(build, lambda epoch: dataset, epochs, steps, tmp_path,
                             callbacks=[Record()], verbose=0)
    np.testing.assert_allclose(before + recorded, expected, atol=1e-6)
    assert model.ema_horizon.total_steps == epochs * steps

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
    assert model._fit_decay_steps == 4
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
    assert model._fit_decay_steps == 2
    # The step counter goes on (2 done); epochs 1-3 of 2 steps end at step 8.
    model.fit(dataset, epochs=4, initial_epoch=1, verbose=0)
    assert model._fit_decay_steps == 4 * 2
    assert int(ops.convert_to_numpy(model.optimizer.iterations)) == 8
    np.testing.assert_allclose(float(ops.convert_to_numpy(model.target_decay)), 1.0,
                               atol=1e-6)

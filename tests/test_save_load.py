"""`.keras` round trip: weights, target, queue, optimizer state; training resumes."""

import keras
import numpy as np
import pytest
from keras import ops

from tests.toy_data import tiny_model, toy_batch_dict


def _np(x):
    return ops.convert_to_numpy(x)


def _state(model):
    """[(path, value)] of every variable of the model, then of its optimizer."""
    return ([(v.path, _np(v.value)) for v in model.variables]
            + [("optimizer/" + v.path, _np(v.value)) for v in model.optimizer.variables])


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A model trained for 4 steps and the path it was saved to (trained once)."""
    model = tiny_model(target_decay_steps=50)
    model.compile(optimizer=keras.optimizers.AdamW(1e-3, weight_decay=1e-4))
    model.fit(toy_batch_dict(n=64), batch_size=32, epochs=2, verbose=0)
    path = str(tmp_path_factory.mktemp("save_load") / "model.keras")
    model.save(path)
    return model, path


def _trained(saved):
    """(the trained model, a fresh copy loaded from its file)."""
    model, path = saved
    return model, keras.models.load_model(path)


def test_round_trip_restores_every_variable_bit_for_bit(saved):
    model, loaded = _trained(saved)
    assert type(loaded).__name__ == "SemPPL"
    before, after = _state(model), _state(loaded)
    # Every weight, the target, the queue (contents, labels, ids, pointer),
    # the sampling seeds' states and the optimizer's slots and step count, in
    # order (a seed generator's path holds a process-wide counter).
    assert len(after) == len(before)
    assert any("seed_generator" in path for path, _ in before)
    for (path, a), (_, b) in zip(before, after):
        np.testing.assert_array_equal(a, b, err_msg=path)
    assert int(_np(loaded.queue.pointer.value)) == int(_np(model.queue.pointer.value))
    assert (_np(loaded.queue.labels.value) >= 0).sum() > 0
    assert int(_np(loaded.optimizer.iterations.value)) == 4
    # The target stays frozen after loading.
    trainable = {id(v) for v in loaded.trainable_variables}
    assert not any(id(v) in trainable for v in loaded.target_encoder.weights)
    assert loaded.get_config()["queue_size"] == model.get_config()["queue_size"]


def test_training_resumes_from_the_loaded_state(saved):
    model, path = saved
    loaded = keras.models.load_model(path)
    data = toy_batch_dict(n=64, seed=1)
    pointer_before = int(_np(model.queue.pointer.value))
    history = loaded.fit(data, batch_size=32, epochs=1, verbose=0, shuffle=False).history
    assert int(_np(loaded.optimizer.iterations.value)) == 6
    # The queue kept its contents and moved on from the saved pointer.
    written = int((data["labels"] >= 0).sum())
    assert int(_np(loaded.queue.pointer.value)) == (pointer_before + written) % model.queue_size
    assert (_np(loaded.queue.labels.value) >= 0).sum() >= (_np(model.queue.labels.value) >= 0).sum()
    # The trained model, continued without a save, takes the very same step.
    reference = model.fit(data, batch_size=32, epochs=1, verbose=0, shuffle=False).history
    assert history["loss"][0] == reference["loss"][0]
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_encoder_extracts_and_saves_on_its_own(saved, tmp_path):
    model, _ = saved
    encoder = model.extract_encoder()
    path = str(tmp_path / "encoder.keras")
    encoder.save(path)
    reloaded = keras.models.load_model(path)
    x = toy_batch_dict(n=8)["large_views"][0]
    np.testing.assert_allclose(_np(reloaded(x, training=False)), _np(model(x)), rtol=1e-5, atol=1e-6)
    assert reloaded.output_shape == (None, 16)

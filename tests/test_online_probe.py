"""SemPPL(online_probe=True): BYOL's online linear classifier on stop-gradient features."""

import keras
import numpy as np
import pytest
from keras import ops

from tests.toy_data import tiny_model
from tests.toy_data import toy_batch_dict


def _log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def test_probe_loss_and_accuracy_match_numpy():
    keras.utils.set_random_seed(0)
    model = tiny_model(online_probe=True)
    data = toy_batch_dict(n=24)
    terms = model.loss_terms(data)

    features = ops.convert_to_numpy(model.encoder(data["large_views"][0], training=False))
    kernel, bias = (ops.convert_to_numpy(w) for w in model.probe.weights)
    logits = features @ kernel + bias
    labels = data["labels"]
    lab = labels >= 0
    expected = -_log_softmax(logits)[lab, labels[lab]].mean()
    np.testing.assert_allclose(float(terms["probe_loss"]), expected, rtol=1e-4)
    # The differentiated objective = the SemPPL loss + the probe's loss.
    np.testing.assert_allclose(float(terms["objective"]),
                               float(terms["loss"]) + expected, rtol=1e-4)
    # Evaluation: accuracy over every row with a class (label or hidden truth).
    model.compile(optimizer="sgd")
    logs = model.evaluate(data, batch_size=24, verbose=0, return_dict=True)
    expected_acc = np.mean(logits.argmax(-1) == data["true_labels"])
    assert logs["probe_accuracy"] == pytest.approx(expected_acc, abs=1e-6)
    np.testing.assert_allclose(logs["probe_loss"], expected, rtol=1e-4)


def test_probe_never_changes_the_encoder():
    """Same seeds, one optimizer step with and without the probe: equal encoders."""
    data = toy_batch_dict(n=32)
    weights = {}
    for probe in (False, True):
        keras.utils.set_random_seed(0)
        model = tiny_model(online_probe=probe)
        model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
        if probe:
            probe_before = ops.convert_to_numpy(model.probe.kernel).copy()
        model.fit(data, batch_size=32, epochs=2, shuffle=False, verbose=0)
        weights[probe] = [ops.convert_to_numpy(w) for w in model.encoder.weights]
        if probe:
            # ... while the probe itself trains.
            assert not np.allclose(ops.convert_to_numpy(model.probe.kernel), probe_before)
    for a, b in zip(weights[False], weights[True]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_probe_metrics_in_history_and_it_learns():
    keras.utils.set_random_seed(0)
    data = toy_batch_dict(n=96, labelled_every=2)
    model = tiny_model(online_probe=True)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    validation = toy_batch_dict(n=48, seed=1)
    history = model.fit(data, batch_size=48, epochs=12, verbose=0,
                        validation_data=validation).history
    for key in ("probe_loss", "probe_accuracy", "val_probe_loss", "val_probe_accuracy"):
        assert len(history[key]) == 12, key
    assert history["probe_loss"][-1] < history["probe_loss"][0]
    # Three colour classes: chance is 1/3; the probe is scored on rows it never trained on.
    assert history["probe_accuracy"][-1] > 0.6
    # The last validation pass ran with the final weights: its accuracy is
    # the probe's, recomputed here in NumPy, over every row with a class.
    features = ops.convert_to_numpy(
        model.encoder(validation["large_views"][0], training=False))
    kernel, bias = (ops.convert_to_numpy(w) for w in model.probe.weights)
    expected = np.mean((features @ kernel + bias).argmax(-1) == validation["true_labels"])
    assert history["val_probe_accuracy"][-1] == pytest.approx(expected, abs=1e-6)


def test_no_probe_by_default():
    model = tiny_model()
    assert not model.online_probe
    assert "probe_accuracy" not in [m.name for m in model.metrics]


def test_probe_survives_save_and_load(tmp_path):
    keras.utils.set_random_seed(0)
    model = tiny_model(online_probe=True)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(toy_batch_dict(n=32), batch_size=32, epochs=1, verbose=0)
    path = str(tmp_path / "probe.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.online_probe
    np.testing.assert_array_equal(ops.convert_to_numpy(loaded.probe.kernel),
                                  ops.convert_to_numpy(model.probe.kernel))

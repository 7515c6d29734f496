"""`PseudoLabelTrust` against the NumPy loop of tests/numpy_reference.py; the
model's use of it (per-anchor trust, update after a training step only)."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_semppl.layers import PseudoLabelTrust
from tests import numpy_reference as ref
from tests.toy_data import tiny_model
from tests.toy_data import toy_batch_dict


def _np(x):
    return ops.convert_to_numpy(x)


def test_running_estimate_matches_numpy_and_starts_at_zero():
    rng = np.random.default_rng(0)
    layer = PseudoLabelTrust(num_classes=4, momentum=0.8)
    assert float(_np(layer.kappa())) == 0.0  # no labelled vote yet: no trust
    votes, labels = [], []
    for step in range(6):
        y = np.where(rng.random(12) < 0.5, rng.integers(0, 4, 12), -1).astype("int32")
        v = np.where(rng.random(12) < 0.3 + 0.1 * step, y, rng.integers(-1, 4, 12)).astype("int32")
        votes.append(v), labels.append(y)
    expected = ref.pseudo_label_trust(votes, labels, num_classes=4, momentum=0.8)
    for v, y, kappa in zip(votes, labels, expected):
        layer.update(v, y)
        assert float(_np(layer.kappa())) == pytest.approx(kappa, rel=1e-5, abs=1e-6)
    trust = _np(layer.anchor_trust(np.array([2, -1, 0, -1], "int32")))
    np.testing.assert_allclose(trust, [1.0, expected[-1], 1.0, expected[-1]], rtol=1e-5)


def test_chance_and_perfect_votes_give_zero_and_nearly_one():
    labels = np.tile(np.arange(10, dtype="int32"), 10)
    perfect, chance = PseudoLabelTrust(10, momentum=0.5), PseudoLabelTrust(10, momentum=0.5)
    for _ in range(20):
        perfect.update(labels, labels)
        chance.update(np.roll(labels, 1)[np.random.default_rng(0).permutation(100)], labels)
    assert float(_np(perfect.kappa())) > 0.99
    assert float(_np(chance.kappa())) < 0.05


@pytest.mark.parametrize("kwargs,match", [
    (dict(num_classes=1), "num_classes"),
    (dict(num_classes=3, momentum=1.0), "momentum"),
    (dict(num_classes=3, momentum=-0.1), "momentum"),
])
def test_bad_arguments_name_themselves(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PseudoLabelTrust(**kwargs)


def test_model_trusts_labelled_anchors_and_updates_only_in_training():
    model = tiny_model(queue_size=32)
    assert model.semantic_trust == "estimated"
    with pytest.raises(ValueError, match="semantic_trust"):
        tiny_model(semantic_trust="always")
    data = toy_batch_dict(n=32)
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    model.evaluate(data, batch_size=16, verbose=0)
    model.loss_terms(data, training=True)
    assert float(_np(model.pseudo_label_trust.count.value)) == 0.0
    history = model.fit(data, batch_size=16, epochs=2, verbose=0).history
    # The first step's queue is empty: no vote; afterwards labelled votes count.
    assert float(_np(model.pseudo_label_trust.count.value)) > 0.0
    assert 0.0 <= history["semantic_trust"][-1] <= 1.0
    # The paper's form has no trust state and logs none.
    plain = tiny_model(queue_size=32, semantic_trust="none")
    assert not hasattr(plain, "pseudo_label_trust")
    plain.compile(optimizer=keras.optimizers.SGD(0.01))
    assert "semantic_trust" not in plain.fit(data, batch_size=16, verbose=0).history


def test_untrusted_pseudo_labels_leave_a_constant_semantic_term():
    # Trust 0 (a fresh model): every pseudo-labelled row is ln(1 + N); the
    # labelled rows are the paper's InfoNCE, so the trusted and the paper's
    # L_sempos differ exactly on the unlabelled anchors.
    data = toy_batch_dict(n=32, labelled_every=2)
    models = []
    for trust in ("estimated", "none"):
        keras.utils.set_random_seed(0)  # the same weights and sampling seeds
        model = tiny_model(queue_size=32, semantic_trust=trust)
        embeddings = ref.unit(np.random.default_rng(1).normal(size=(2, 32, 16)))
        model.queue.enqueue(embeddings.astype("float32"), data["true_labels"],
                            data["ids"] + 100, np.ones(32, bool))
        models.append(model)
    trusted, plain = models
    got = {k: float(_np(v)) for k, v in trusted.loss_terms(data).items()}
    expected = {k: float(_np(v)) for k, v in plain.loss_terms(data).items()}
    assert got["l_augm"] == pytest.approx(expected["l_augm"], rel=1e-5)
    assert got["l_sempos"] != pytest.approx(expected["l_sempos"], rel=1e-3)
    assert abs(got["l_sempos"] - np.log(1 + 5)) < abs(expected["l_sempos"] - np.log(1 + 5))

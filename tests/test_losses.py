"""Loss terms against the NumPy loops of tests/numpy_reference.py."""

import math

import numpy as np
import pytest
from keras import ops

from keras_semppl.losses import masked_infonce, masked_kl_invariance, semppl_objective
from keras_semppl.losses.contrastive import contrastive_logits
from keras_semppl.losses.contrastive import trusted_infonce_per_row
from tests import numpy_reference as ref


def _np(x):
    return ops.convert_to_numpy(x)


def test_infonce_hand_computed():
    # anchor . positive = 1, anchor . negative = 0, t = 1:
    # loss = -log(e / (e + 1)) = log(1 + 1/e)
    a = np.array([[1.0, 0.0]], "float32")
    logits = contrastive_logits(a, a, np.array([[[0.0, 1.0]]], "float32"), 1.0)
    np.testing.assert_allclose(_np(logits), [[1.0, 0.0]])
    assert float(masked_infonce(logits)) == pytest.approx(math.log(1 + math.exp(-1)), rel=1e-6)


def test_masked_infonce_matches_numpy_and_ignores_masked_rows():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 5)).astype("float32")
    mask = np.array([1, 0, 1, 1, 0, 0], bool)
    expected = np.mean([-ref.log_softmax(r)[0] for r in logits[mask]])
    assert float(masked_infonce(logits, mask)) == pytest.approx(expected, rel=1e-5)
    assert float(masked_infonce(logits, np.zeros(6, bool))) == 0.0


def test_trusted_infonce_hand_computed_and_its_two_ends():
    # logits [ln 3, 0, 0]: q_0 = 3/5; kappa = 1/2: -ln(3/10 + 1/6) = -ln(7/15)
    logits = np.array([[math.log(3.0), 0.0, 0.0]] * 3, "float32")
    got = ops.convert_to_numpy(trusted_infonce_per_row(logits, np.array([0.5, 1.0, 0.0])))
    np.testing.assert_allclose(got, [-math.log(7 / 15), -math.log(3 / 5), math.log(3.0)],
                               rtol=1e-5)
    # Extreme logits stay finite at both ends of the trust.
    extreme = np.array([[-80.0, 80.0, 0.0]] * 2, "float32")
    got = ops.convert_to_numpy(trusted_infonce_per_row(extreme, np.array([0.0, 1.0])))
    np.testing.assert_allclose(got, [math.log(3.0), 160.0], rtol=1e-5)
    for row, trust in zip(np.random.default_rng(1).normal(size=(5, 4)), np.linspace(0, 1, 5)):
        value = float(trusted_infonce_per_row(row[None].astype("float32"), trust)[0])
        assert value == pytest.approx(ref.trusted_infonce(row, trust), rel=1e-5)


def test_kl_invariance_hand_computed_and_zero_for_equal():
    p = np.array([[0.0, 0.0]], "float32")  # uniform
    q = np.array([[math.log(3.0), 0.0]], "float32")  # (3/4, 1/4)
    expected = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    assert float(masked_kl_invariance(p, q)) == pytest.approx(expected, rel=1e-5)
    assert float(masked_kl_invariance(q, q)) == pytest.approx(0.0, abs=1e-6)


def _random_case(rng, num_large, num_small, B=5, D=4, N=3, P=2, per_pair=False):
    V = num_large + num_small
    online = ref.unit(rng.normal(size=(V, B, D))).astype("float32")
    target = ref.unit(rng.normal(size=(num_large, B, D))).astype("float32")

    def draw():
        return np.stack([rng.choice([j for j in range(B) if j != b], N, replace=False)
                         for b in range(B)]).astype("int32")

    if per_pair:
        neg_idx = np.stack([np.stack([draw() for _ in range(num_large)]) for _ in range(V)])
        for i in range(num_large):  # the KL compares (i, j) with (j, i): same candidates
            for j in range(i):
                neg_idx[i, j] = neg_idx[j, i]
    else:
        neg_idx = draw()
    positives = ref.unit(rng.normal(size=(num_large, B, P, D))).astype("float32")
    pos_mask = rng.random((B, P)) > 0.4
    pos_mask[0] = False  # one anchor without any semantic positive
    return online, target, neg_idx, positives, pos_mask


OPTIONS = [
    dict(same_view_pairs=True, invariance="kl", invariance_on_semantic_positives=True),
    dict(same_view_pairs=False, invariance="kl", invariance_on_semantic_positives=False),
    dict(same_view_pairs=True, invariance="3p", invariance_on_semantic_positives=False),
    dict(same_view_pairs=False, invariance="none", invariance_on_semantic_positives=False),
]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(map(str, o.values())))
@pytest.mark.parametrize("per_pair", [False, True])
@pytest.mark.parametrize("num_large,num_small", [(2, 0), (3, 2), (1, 1)])
@pytest.mark.parametrize("trusted", [False, True], ids=["paper", "trusted"])
def test_objective_matches_numpy_loops(num_large, num_small, per_pair, options, trusted):
    rng = np.random.default_rng(num_large * 10 + num_small)
    case = _random_case(rng, num_large, num_small, per_pair=per_pair)
    batch = case[0].shape[1]
    # Per-anchor trust: both ends and values between (a labelled anchor has 1).
    trust = np.linspace(0.0, 1.0, batch) if trusted else None
    args = dict(temperature=0.2, c=0.3, alpha=0.2, lam=5.0)
    got = semppl_objective(*case, **args, **options, positive_trust=trust)
    expected = ref.objective(
        *case, 0.2, 0.3, 0.2, 5.0,
        same_view_pairs=options["same_view_pairs"], invariance=options["invariance"],
        kl_on_semantic_positives=options["invariance_on_semantic_positives"],
        positive_trust=trust)
    for name, value in expected.items():
        assert float(got[name]) == pytest.approx(value, rel=1e-4, abs=1e-6), name
    if num_large == 1 and options["invariance"] != "3p":
        assert float(got["i_augm"]) == 0.0


def test_objective_rejects_unknown_invariance():
    case = _random_case(np.random.default_rng(0), 2, 0)
    with pytest.raises(ValueError, match="invariance"):
        semppl_objective(*case, 0.1, 1.0, 1.0, 1.0, invariance="relic")


def test_objective_masked_semantic_positives_give_zero_not_garbage():
    rng = np.random.default_rng(3)
    online = ref.unit(rng.normal(size=(2, 4, 3))).astype("float32")
    target = ref.unit(rng.normal(size=(2, 4, 3))).astype("float32")
    neg_idx = np.array([[1, 2], [2, 3], [3, 0], [0, 1]], "int32")
    positives = np.full((2, 4, 1, 3), np.nan, "float32")  # must never be read
    out = semppl_objective(online, target, neg_idx, positives, np.zeros((4, 1), bool), 0.1, 1.0, 1.0, 1.0)
    assert float(out["l_sempos"]) == 0.0 and float(out["i_sempos"]) == 0.0
    assert np.isfinite(float(out["loss"]))

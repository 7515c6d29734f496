"""No default weighting may make a collapsed embedding the cheapest state.

A KL invariance is 0 at collapse while each InfoNCE term is ln(1 + N) there,
so a large invariance weight can make collapse cheaper than any separated
state (measured: the former default lambda=5 collapsed the digits job). This
walks a straight path from a collapsed embedding (every view of every example
the same vector) to a class-separated one with per-view noise, and checks
that the loss with the model's default weights goes downhill all the way.
"""

import inspect

import numpy as np
import pytest

from keras_semppl.models import SemPPL
from keras_semppl.losses import semppl_objective
from keras_semppl.layers.positive_sampler import sample_pair_negative_indices
from tests import numpy_reference as ref

DEFAULTS = {
    name: parameter.default
    for name, parameter in inspect.signature(SemPPL.__init__).parameters.items()
    if parameter.default is not inspect.Parameter.empty
}
OPTION_NAMES = ("same_view_pairs", "invariance", "invariance_on_semantic_positives")


def _path_losses(c, alpha, lam, temperature, num_negatives, options, steps=11):
    rng = np.random.default_rng(0)
    num_classes, per_class, views, dim, num_pos = 4, 8, 2, 16, 3
    batch = num_classes * per_class
    classes = np.repeat(np.arange(num_classes), per_class)
    collapsed = ref.unit(rng.normal(size=dim))
    centres = ref.unit(rng.normal(size=(num_classes, dim)))
    example = 0.1 * rng.normal(size=(batch, dim))
    noise = 0.1 * rng.normal(size=(2, views, batch, dim))  # online / target views
    negatives = np.asarray(sample_pair_negative_indices(views, views, batch, num_negatives, 7))
    # Semantic positives: other examples of the anchor's class.
    slots = np.stack([rng.choice(np.flatnonzero((classes == classes[b]) & (np.arange(batch) != b)),
                                 num_pos, replace=False) for b in range(batch)])
    losses = []
    for t in np.linspace(0.0, 1.0, steps):
        def embed(k):
            return ref.unit((1 - t) * collapsed + t * (centres[classes] + example + noise[k]))
        online, target = embed(0), embed(1)
        positives = target[:, slots]  # (L, B, P, D)
        terms = semppl_objective(
            online.astype("float32"), target.astype("float32"), negatives,
            positives.astype("float32"), np.ones((batch, num_pos), bool),
            temperature, c, alpha, lam, **options)
        losses.append(float(terms["loss"]))
    return np.array(losses)


def _default_path():
    options = {name: DEFAULTS[name] for name in OPTION_NAMES}
    return _path_losses(DEFAULTS["c"], DEFAULTS["alpha"], DEFAULTS["lambda_invariance"],
                        DEFAULTS["temperature"], DEFAULTS["num_negatives"], options)


def test_default_weights_go_downhill_from_collapse_to_separation():
    losses = _default_path()
    assert losses[-1] < losses[0] - 0.5, losses
    assert np.all(np.diff(losses) < 0), np.round(losses, 3)


def test_the_check_fails_for_a_kl_weight_that_favours_collapse():
    # The former default (c=0.3, alpha=0.2, lambda=5 with a KL): uphill.
    options = dict(same_view_pairs=True, invariance="kl", invariance_on_semantic_positives=True)
    losses = _path_losses(0.3, 0.2, 5.0, 0.15, 10, options)
    assert not np.all(np.diff(losses) < 0), np.round(losses, 3)


@pytest.mark.parametrize("lam", [0.0, 0.5])
def test_collapsed_loss_is_the_closed_form(lam):
    # At collapse every logit is 1 / tau: each InfoNCE is ln(1 + N), each KL 0.
    options = {name: DEFAULTS[name] for name in OPTION_NAMES}
    losses = _path_losses(1.0, 1.0, lam, 0.15, 10, options, steps=2)
    assert losses[0] == pytest.approx(2 * np.log(11.0), rel=1e-5)

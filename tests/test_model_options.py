"""Model options that change how a step runs, not what it computes.

Fused vs per-view encoding, the augmentation-only mode against the full
model's augmentation terms, and XLA on/off.

Tolerances: fused vs per-view encoding in inference mode (BatchNorm on its
moving statistics, so fusing is exactly legal) and XLA vs no XLA differ
only by float32 summation order: losses agree to 1e-4 relative.
"""

import keras
import numpy as np
import pytest
from keras import ops

from tests.toy_data import tiny_model
from tests.toy_data import toy_batch_dict

RTOL = 1e-4


def _terms(model, batch, training=False):
    terms = model.loss_terms(batch, training=training)
    return {k: float(ops.convert_to_numpy(v)) for k, v in terms.items()}


def _pair(**kwargs):
    keras.utils.set_random_seed(0)
    a = tiny_model(queue_size=32, **kwargs.get("a", {}))
    b = tiny_model(queue_size=32, **kwargs.get("b", {}))
    b.set_weights(a.get_weights())
    return a, b


def test_fused_views_give_the_same_losses():
    data = toy_batch_dict(n=32)
    trained, _ = _pair()
    # Fill the queue so that the semantic-positive terms are non-zero.
    trained.compile(optimizer=keras.optimizers.SGD(0.01))
    trained.fit(data, batch_size=32, epochs=2, verbose=0)
    # Fresh models: their sampling seeds start from the same state.
    fused, per_view = _pair(a=dict(fuse_views=True), b=dict(fuse_views=False))
    fused.set_weights(trained.get_weights())
    per_view.set_weights(trained.get_weights())
    ref, got = _terms(fused, data), _terms(per_view, data)
    assert ref["l_sempos"] > 0
    for key in ref:
        np.testing.assert_allclose(got[key], ref[key], rtol=RTOL, atol=1e-6, err_msg=key)


def test_augmentation_only_mode_matches_the_augmentation_terms():
    data = toy_batch_dict(n=32)
    full, aug = _pair(b=dict(semantic_positives=False))
    ref, got = _terms(full, data), _terms(aug, data)
    assert got["l_sempos"] == 0.0 and got["i_sempos"] == 0.0
    np.testing.assert_allclose(got["l_augm"], ref["l_augm"], rtol=RTOL)
    np.testing.assert_allclose(got["i_augm"], ref["i_augm"], rtol=RTOL, atol=1e-6)
    assert aug.get_config()["semantic_positives"] is False
    aug.compile(optimizer=keras.optimizers.SGD(0.01))
    aug.fit(data, batch_size=32, epochs=1, verbose=0)
    assert np.all(ops.convert_to_numpy(aug.queue.labels.value) == -1)  # queue untouched


@pytest.mark.backend("jax", reason="torch: torch.compile of a train step takes minutes on "
                     "2 cores; tensorflow: under XLA, TF's stateless RNG ('auto_select') "
                     "picks another algorithm, so the sampled negatives differ and only the "
                     "loss distribution, not the value, is comparable")
def test_jit_on_and_off_give_the_same_training_losses():
    data = toy_batch_dict(n=32)
    eager, jitted = _pair()
    histories = []
    for model, jit in ((eager, False), (jitted, True)):
        model.compile(optimizer=keras.optimizers.SGD(0.01), jit_compile=jit)
        # Two steps of one epoch: the second sees the first's optimizer and queue state.
        histories.append(model.fit(data, batch_size=16, epochs=1, shuffle=False,
                                   verbose=0).history)
    for key in ("loss", "l_augm", "l_sempos"):
        np.testing.assert_allclose(histories[1][key], histories[0][key], rtol=RTOL,
                                   atol=1e-6, err_msg=key)

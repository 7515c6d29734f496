"""`mixed_bfloat16`: SemPPL's loss stays finite and close to fp32.

The option is one line before building the model::

    keras.mixed_precision.set_global_policy("mixed_bfloat16")

Layers then compute in bfloat16 with float32 weights; `SemPPL._embed` casts
the embeddings to float32, so the losses, the k-NN vote, the queue and the
EMA stay float32. Tolerance: bfloat16 keeps 8 mantissa bits (relative
rounding ~4e-3 per op); through a tiny convnet, two heads and the softmaxes
the total loss is checked to 5e-2 relative (measured: well below that).
"""

import keras
import numpy as np
import pytest
from keras import ops

from tests.toy_data import tiny_model
from tests.toy_data import toy_batch_dict

RTOL = 5e-2


@pytest.fixture
def restore_policy():
    before = keras.mixed_precision.global_policy().name
    yield
    keras.mixed_precision.set_global_policy(before)


def _eval_terms(model, batch):
    parsed = model._parse(batch)
    terms, _ = model._forward(parsed, training=False, update_queue=False)
    return {k: float(ops.convert_to_numpy(v)) for k, v in terms.items()}


def test_bf16_loss_is_finite_and_close_to_fp32(restore_policy):
    keras.mixed_precision.set_global_policy("float32")
    keras.utils.set_random_seed(0)
    data = toy_batch_dict(n=32)
    trained = tiny_model(queue_size=32)
    trained.compile(optimizer=keras.optimizers.SGD(0.01))
    # Two steps fill the queue and move BatchNorm statistics off their init,
    # so that the semantic-positive terms are non-zero below.
    trained.fit(data, batch_size=32, epochs=2, verbose=0)
    # Fresh models, so that both sampling seeds start from the same state.
    fp32 = tiny_model(queue_size=32)
    fp32.set_weights(trained.get_weights())

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    bf16 = tiny_model(queue_size=32)
    assert bf16.encoder.layers[1].compute_dtype == "bfloat16"
    bf16.set_weights(trained.get_weights())
    assert all(v.dtype == "float32" for v in bf16.queue.weights if "embeddings" in v.path)

    ref = _eval_terms(fp32, data)
    got = _eval_terms(bf16, data)
    assert ref["l_sempos"] > 0  # the semantic positives are exercised
    for key in ref:
        assert np.isfinite(got[key]), key
    np.testing.assert_allclose(got["loss"], ref["loss"], rtol=RTOL)
    np.testing.assert_allclose(got["l_augm"], ref["l_augm"], rtol=RTOL)

    # A training step (BatchNorm on batch statistics) in both precisions,
    # from the same weights and seed state: finite and close; the state it
    # writes stays float32.
    losses = []
    for model in (fp32, bf16):
        model.compile(optimizer=keras.optimizers.SGD(0.01))
        losses.append(model.fit(data, batch_size=32, epochs=1, verbose=0).history["loss"][0])
    assert np.isfinite(losses[1])
    np.testing.assert_allclose(losses[1], losses[0], rtol=RTOL)
    assert bf16.queue.embeddings.dtype == "float32"
    assert all(t.dtype == "float32" for t, _ in bf16._ema_pairs)

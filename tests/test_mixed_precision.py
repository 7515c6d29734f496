"""Mixed precision: `mixed_bfloat16` stays close to float32, and under
`mixed_float16` every backend scales the loss (a `LossScaleOptimizer`
unscales the gradients), so one step moves the weights as float32 does.

The options are one line before building the model::

    keras.mixed_precision.set_global_policy("mixed_bfloat16")

Layers then compute in (b)float16 with float32 weights; the model casts the
embeddings to float32, so the losses, the k-NN vote, the queue and the EMA
stay float32. Tolerance: bfloat16 keeps 8 mantissa bits (relative rounding
~4e-3 per op); through a tiny convnet, two heads and the softmaxes the total
loss is checked to 5e-2 relative (measured: well below that).
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


def _floats(terms):
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

    ref = _floats(fp32.loss_terms(data))
    got = _floats(bf16.loss_terms(data))
    assert ref["l_sempos"] > 0  # the semantic positives are exercised
    for key in ref:
        assert np.isfinite(got[key]), key
    np.testing.assert_allclose(got["loss"], ref["loss"], rtol=RTOL)
    np.testing.assert_allclose(got["l_augm"], ref["l_augm"], rtol=RTOL)

    # A training step (BatchNorm on batch statistics) in both precisions,
    # from the same weights, seed state and example order (no shuffling: the
    # order decides which examples are drawn as negatives): finite and close;
    # the state it writes stays float32.
    losses = []
    for model in (fp32, bf16):
        model.compile(optimizer=keras.optimizers.SGD(0.01))
        history = model.fit(data, batch_size=32, epochs=1, shuffle=False, verbose=0).history
        losses.append(history["loss"][0])
    assert np.isfinite(losses[1])
    np.testing.assert_allclose(losses[1], losses[0], rtol=RTOL)
    assert bf16.queue.embeddings.dtype == "float32"
    assert all(w.dtype == "float32"
               for w in bf16.target_encoder.weights + bf16.target_projector.weights)


def _one_sgd_step_update(policy, weights, data):
    """The change of every online trainable weight after one SGD step."""
    keras.mixed_precision.set_global_policy(policy)
    model = tiny_model(queue_size=32)
    model.set_weights(weights)
    optimizer = keras.optimizers.SGD(0.1)
    if policy == "mixed_float16":
        # What compile() does by itself, with a smaller first scale: at
        # 2**15 the first float16 step overflows on TensorFlow's CPU kernels
        # and is skipped (the scale halves), which would leave nothing to
        # compare.
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer, initial_scale=2.0**10)
    model.compile(optimizer=optimizer)
    before = [ops.convert_to_numpy(v.value).astype("float64") for v in model.trainable_variables]
    model.fit(data, batch_size=32, epochs=1, shuffle=False, verbose=0)
    assert int(ops.convert_to_numpy(model.optimizer.iterations.value)) == 1  # not skipped
    after = [ops.convert_to_numpy(v.value).astype("float64") for v in model.trainable_variables]
    return model, np.concatenate([(a - b).ravel() for a, b in zip(after, before)])


def test_mixed_float16_step_scales_the_loss_like_float32(restore_policy):
    """One SGD step under mixed_float16 moves the weights as float32 does.

    A `LossScaleOptimizer` divides the gradients by its loss scale, so the
    trainer must differentiate the *scaled* loss (`optimizer.scale_loss`).
    A trainer that took the gradient of the unscaled loss made updates
    2**10 times too small here (2**15 with compile()'s default). The
    reference is the same step in float32, from the same weights, seed
    state and example order. Float16 rounding (11 mantissa bits) through a
    tiny network leaves the update within 10% in norm and almost parallel.
    """
    keras.mixed_precision.set_global_policy("float32")
    keras.utils.set_random_seed(0)
    data = toy_batch_dict(n=32)
    weights = tiny_model(queue_size=32).get_weights()
    _, update32 = _one_sgd_step_update("float32", weights, data)
    model16, update16 = _one_sgd_step_update("mixed_float16", weights, data)
    assert model16.encoder.layers[1].compute_dtype == "float16"
    ratio = np.linalg.norm(update16) / np.linalg.norm(update32)
    cosine = update16 @ update32 / (np.linalg.norm(update16) * np.linalg.norm(update32))
    assert ratio == pytest.approx(1.0, abs=0.1), ratio
    assert cosine > 0.98, cosine

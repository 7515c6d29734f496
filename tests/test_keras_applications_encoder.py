"""`keras.applications.ResNet50(weights=None)` works as the SemPPL encoder."""

import keras
import numpy as np
import pytest

from keras_semppl.models import SemPPL
from tests.toy_data import toy_batch_dict


@pytest.mark.slow
def test_resnet50_from_keras_applications_trains_one_step():
    encoder = keras.applications.ResNet50(
        weights=None, include_top=False, pooling="avg", input_shape=(32, 32, 3)
    )
    model = SemPPL(encoder, num_classes=3, projector_hidden_dim=32, projection_dim=16,
                   predictor_hidden_dim=32, queue_size=16, num_negatives=3,
                   num_semantic_positives=1, seed=0, target_decay_steps=10)
    # The target is a separate copy: same shapes, distinct variables.
    assert len(model.target_encoder.weights) == len(encoder.weights)
    assert not {id(v) for v in model.target_encoder.weights} & {id(v) for v in encoder.weights}
    model.compile(optimizer="sgd")
    data = toy_batch_dict(n=8, size=32)
    kernel = encoder.weights[0]
    assert kernel.trainable
    before = keras.ops.convert_to_numpy(kernel.value)
    history = model.fit(data, batch_size=8, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0])
    # One SGD step moved the online weights, and BYOL's EMA moved the target
    # (a copy of the online weights before the step) towards them:
    # target = tau * before + (1 - tau) * after, tau at step 1 of K = 10.
    after = keras.ops.convert_to_numpy(kernel.value)
    assert not np.array_equal(after, before)
    tau = 1 - (1 - 0.99) * (np.cos(np.pi * 1 / 10) + 1) / 2
    target = keras.ops.convert_to_numpy(model.target_encoder.weights[0].value)
    np.testing.assert_allclose(target, tau * before + (1 - tau) * after, rtol=1e-5, atol=1e-7)

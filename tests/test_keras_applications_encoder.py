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
                   num_semantic_positives=1, seed=0)
    # The target is a separate copy: same shapes, distinct variables.
    assert len(model.target_encoder.weights) == len(encoder.weights)
    assert not {id(v) for v in model.target_encoder.weights} & {id(v) for v in encoder.weights}
    model.compile(optimizer="sgd")
    data = toy_batch_dict(n=8, size=32)
    history = model.fit(data, batch_size=8, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0])

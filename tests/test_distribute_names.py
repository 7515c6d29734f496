"""`resolve_distribution`: the names, the batch-size check, and "auto" on a
machine with one CPU device, under every backend."""

import keras
import pytest

from keras_semppl.distribute import resolve_distribution


def test_resolve_distribution_names():
    plan = resolve_distribution("none")
    assert plan.name == "none" and plan.num_replicas == 1 and plan.engine is None
    with plan.scope():
        pass
    with pytest.raises(ValueError, match="Unknown distribution 'bogus'"):
        resolve_distribution("bogus")
    with pytest.raises(ValueError, match="multiple of the 4 replicas"):
        plan.num_replicas = 4
        plan.check_batch_size(30)
    # One CPU device in this process: "auto" means no distribution.
    assert resolve_distribution("auto").name == "none"
    if keras.backend.backend() == "jax":
        with pytest.raises(ValueError, match="TensorFlow strategy"):
            resolve_distribution("mirrored")

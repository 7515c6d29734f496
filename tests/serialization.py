"""One helper for the config round trip of every serialisable object.

After keras-hub's ``run_serialization_test``: the config names every
constructor argument with the value it was given, ``from_config`` rebuilds an
object whose config is the same, and Keras' registered (de)serialisation
(what a ``.keras`` file stores) rebuilds the same class with that config.
"""

import copy
import json

import keras


def _normalised(config):
    """A config as JSON would store it (tuples become lists), floats to 6 digits.

    (Some configs store a number as a float32 variable's value: 0.3 comes
    back as 0.30000001192...)
    """
    def rounded(x):
        if isinstance(x, float):
            return float(f"{x:.6g}")
        if isinstance(x, dict):
            return {k: rounded(v) for k, v in x.items()}
        if isinstance(x, list):
            return [rounded(v) for v in x]
        return x

    return rounded(json.loads(json.dumps(config, default=str)))


def run_serialization_test(cls, init_kwargs, expected_config=None):
    """Builds ``cls(**init_kwargs)`` and checks its config round trip.

    Args:
        cls: the class under test.
        init_kwargs: constructor arguments; each must appear in the config
            with the same value (unless ``expected_config`` says otherwise).
        expected_config: optional {key: value} for arguments that the config
            stores in another form (e.g. a serialised sub-object).

    Returns:
        ``(original, revived)``: the instance and its copy made through
        `keras.saving.serialize_keras_object` / `deserialize_keras_object`.
    """
    original = cls(**init_kwargs)
    config = original.get_config()
    snapshot = copy.deepcopy(config)
    expected = dict(init_kwargs, **(expected_config or {}))
    for key, value in expected.items():
        assert key in config, f"{cls.__name__}.get_config() lacks the argument {key!r}"
        assert _normalised(config[key]) == _normalised(value), (key, config[key], value)

    rebuilt = cls.from_config(config)
    assert type(rebuilt) is cls
    assert config == snapshot, "from_config changed the config it was given"
    assert _normalised(rebuilt.get_config()) == _normalised(config)

    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(original))
    assert type(revived) is cls
    assert _normalised(revived.get_config()) == _normalised(config)
    return original, revived

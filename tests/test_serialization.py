"""Config round trips of every layer and of every SemPPL option, and one
`.keras` round trip of a model with every option away from its default.

The loaded model must compute the same loss terms on the same batch as the
saved one (its whole saved state came back), and keep every option.
"""

import dataclasses

import keras
import numpy as np
import pytest
from keras import ops

from keras_semppl.augment import DeviceViews
from keras_semppl.augment import RandomApply
from keras_semppl.augment import RandomGaussianBlur
from keras_semppl.augment import RandomResizedCrop
from keras_semppl.augment import Solarize
from keras_semppl.augment import ViewConfig
from keras_semppl.encoders.small_convnet import small_convnet
from keras_semppl.layers import EmbeddingQueue
from keras_semppl.layers import KNNPseudoLabeler
from keras_semppl.layers import MLPHead
from keras_semppl.layers import PseudoLabelTrust
from keras_semppl.layers import SemanticPositiveSampler
from keras_semppl.models import SemPPL
from keras_semppl.optimizers.lars import LARS
from keras_semppl.schedules.warmup_cosine import WarmupCosineDecay
from tests.serialization import run_serialization_test
from tests.toy_data import toy_batch_dict


@pytest.mark.parametrize("cls,kwargs", [
    (EmbeddingQueue, dict(num_views=3, size=17, dim=5, name="q")),
    (KNNPseudoLabeler, dict(num_classes=7, k=4, name="knn")),
    (MLPHead, dict(hidden_dim=12, output_dim=6, use_batch_norm=False, name="head")),
    (MLPHead, dict(hidden_dim=12, output_dim=6, use_batch_norm=True, sync_batch_norm=True)),
    (SemanticPositiveSampler, dict(num_positives=4, seed=11, name="sampler")),
    (PseudoLabelTrust, dict(num_classes=5, momentum=0.7, name="trust")),
    (DeviceViews, dict(large=(ViewConfig(size=8, area_range=(0.3, 0.9), flip_prob=0.25),
                              ViewConfig(size=8, blur_prob=0.5, solarize_prob=0.1)),
                       small=(ViewConfig(size=4),), channels=1, seed=5)),
    (RandomResizedCrop, dict(height=6, width=5, area_range=(0.3, 0.9), seed=2)),
    (RandomApply, dict(layer=Solarize(threshold=0.4), rate=0.3, seed=4)),
    (Solarize, dict(threshold=0.6)),
    (RandomGaussianBlur, dict(rate=0.5, kernel_size=5, sigma_range=(0.2, 1.5), seed=6)),
], ids=lambda x: x.__name__ if isinstance(x, type) else None)
def test_layer_config_round_trip(cls, kwargs):
    expected = None
    if cls is DeviceViews:  # view specs are stored as plain dicts of their fields
        expected = {side: [{"view_config": dataclasses.asdict(v)} for v in kwargs[side]]
                    for side in ("large", "small")}
    if cls is RandomApply:  # the wrapped layer is stored serialised
        expected = {"layer": keras.saving.serialize_keras_object(kwargs["layer"])}
    _, revived = run_serialization_test(cls, kwargs, expected_config=expected)
    if cls is RandomApply:
        assert isinstance(revived.layer, Solarize) and revived.layer.threshold == 0.4
    if cls is DeviceViews:
        assert revived.large_specs == kwargs["large"] and revived.small_specs == kwargs["small"]


def test_optimizer_and_schedule_config_round_trip():
    schedule_kwargs = dict(peak_learning_rate=0.5, total_steps=100, warmup_steps=10,
                           final_learning_rate=0.1)
    _, schedule = run_serialization_test(WarmupCosineDecay, schedule_kwargs)
    # Half-way through the linear warm-up: half the peak.
    np.testing.assert_allclose(float(ops.convert_to_numpy(schedule(5))), 0.25, rtol=1e-6)
    run_serialization_test(LARS, dict(learning_rate=0.3, momentum=0.8, weight_decay=1e-4,
                                      eta=2e-3, nesterov=True))


def _encoder(any_size=False):
    side = None if any_size else 8
    return small_convnet((side, side, 3), widths=(8, 16))


TINY = dict(num_classes=3, projector_hidden_dim=16, projection_dim=8, predictor_hidden_dim=16,
            queue_size=32, num_negatives=3, num_semantic_positives=2)

#: Every constructor option, each away from its default.
OPTIONS = [
    dict(num_large_views=3),
    dict(num_small_views=2),
    dict(knn_k=2),
    dict(temperature=0.3),
    dict(c=0.5),
    dict(alpha=0.7),
    dict(lambda_invariance=2.0),
    dict(target_decay_base=0.9),
    dict(target_decay_steps=40),
    dict(fuse_views=False),
    dict(semantic_positives=False),
    dict(seed=9),
    dict(sync_batch_norm=False),
    dict(online_probe=True),
    dict(view_augmentation=DeviceViews((ViewConfig(size=8, flip_prob=0.0),) * 2, seed=3)),
    dict(same_view_pairs=True),
    dict(invariance="3p"),
    dict(invariance_on_semantic_positives=True),
    dict(negatives_per_pair=False),
    dict(pseudo_label_query="target"),
    dict(semantic_trust="none"),
]


@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: next(iter(o)))
def test_semppl_option_config_round_trip(option):
    encoder = _encoder(any_size=bool(option.get("num_small_views")))
    kwargs = dict(TINY, encoder=encoder, **option)
    expected = {"encoder": keras.saving.serialize_keras_object(encoder)}
    if "view_augmentation" in option:
        expected["view_augmentation"] = keras.saving.serialize_keras_object(
            option["view_augmentation"])
    _, revived = run_serialization_test(SemPPL, kwargs, expected_config=expected)
    name, value = next(iter(option.items()))
    if name == "view_augmentation":
        assert isinstance(revived.view_augmentation, DeviceViews)
    else:
        assert getattr(revived, name) == value


@pytest.mark.slow
def test_keras_file_round_trip_with_every_option(tmp_path):
    keras.utils.set_random_seed(0)
    model = SemPPL(_encoder(any_size=True), **dict(
        TINY, num_large_views=2, num_small_views=1, knn_k=2, temperature=0.3, c=0.5, alpha=0.7,
        lambda_invariance=2.0, target_decay_base=0.9, target_decay_steps=40, fuse_views=False,
        seed=9, sync_batch_norm=False, online_probe=True,
        same_view_pairs=True, invariance="3p", invariance_on_semantic_positives=True,
        negatives_per_pair=False, pseudo_label_query="target", semantic_trust="none",
        view_augmentation=DeviceViews((ViewConfig(size=8, flip_prob=0.0),) * 2,
                                      (ViewConfig(size=4, flip_prob=0.0),), seed=3)))
    model.compile(optimizer=LARS(0.1))
    data = toy_batch_dict(n=32)
    data["small_views"] = (data["large_views"][0][:, :4, :4],)
    model.fit(data, batch_size=16, epochs=1, verbose=0)
    path = str(tmp_path / "all_options.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    config, loaded_config = model.get_config(), loaded.get_config()
    for key in ("encoder", "view_augmentation"):
        config.pop(key), loaded_config.pop(key)
    assert loaded_config == config
    assert isinstance(loaded.optimizer, LARS)
    # Every variable comes back, the sampling seeds' states included (SemPPL
    # saves them; Keras alone would not), so the loaded model draws the same
    # negatives and positives.
    assert len(loaded.variables) == len(model.variables)
    for saved, restored in zip(model.variables, loaded.variables):
        np.testing.assert_array_equal(ops.convert_to_numpy(restored.value),
                                      ops.convert_to_numpy(saved.value), err_msg=saved.path)
    expected = {k: float(ops.convert_to_numpy(v)) for k, v in model.loss_terms(data).items()}
    got = {k: float(ops.convert_to_numpy(v)) for k, v in loaded.loss_terms(data).items()}
    assert expected["probe_loss"] > 0 and expected["l_sempos"] > 0
    assert got == pytest.approx(expected, rel=1e-6, abs=1e-7)


def test_a_config_written_before_semantic_trust_loads_with_the_papers_form():
    """Files saved before the option existed trained every positive as trusted."""
    config = SemPPL(_encoder(), **TINY).get_config()
    assert config["semantic_trust"] == "estimated"  # today's default
    del config["semantic_trust"]
    old = SemPPL.from_config(config)
    assert old.semantic_trust == "none" and not hasattr(old, "pseudo_label_trust")

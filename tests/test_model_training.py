"""SemPPL model: EMA target, learning on a toy problem, bad input."""

import math

import keras
import numpy as np
import pytest
from keras import ops

from tests.toy_data import tiny_model, toy_batch_dict


def _np(x):
    return ops.convert_to_numpy(x)


def _values(variables):
    return [_np(v.value).copy() for v in variables]


def _target_pairs(model):
    """(target, online) weights the EMA moves: every trainable online weight
    of the encoder and projector, matched by position with its target copy."""
    pairs = []
    for online, target in ((model.encoder, model.target_encoder),
                           (model.projector, model.target_projector)):
        assert len(online.weights) == len(target.weights)
        pairs += [(t, o) for o, t in zip(online.weights, target.weights) if o.trainable]
    assert pairs
    return pairs


def test_target_is_frozen_and_outside_the_optimizer():
    model = tiny_model()
    target_ids = {id(v) for v in model.target_encoder.weights + model.target_projector.weights}
    assert not target_ids & {id(v) for v in model.trainable_variables}
    online = model.encoder.trainable_weights + model.projector.trainable_weights + model.predictor.trainable_weights
    assert {id(v) for v in model.trainable_variables} == {id(v) for v in online}
    # The target starts as an exact copy of the online network (BatchNorm
    # statistics included), and none of its weights is trainable.
    for online, target in ((model.encoder, model.target_encoder),
                           (model.projector, model.target_projector)):
        for o, t in zip(online.weights, target.weights):
            np.testing.assert_array_equal(_np(t.value), _np(o.value))
            assert not t.trainable


def test_ema_follows_byol_schedule_after_the_optimizer_step():
    base, total = 0.9, 10
    model = tiny_model(target_decay_base=base, target_decay_steps=total)
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    data = toy_batch_dict(n=32)
    # Make target differ from online, so the EMA is visible.
    for t, _ in _target_pairs(model):
        t.assign(t.value + 0.1)
    target_before = _values([t for t, _ in _target_pairs(model)])
    model.fit(data, batch_size=32, epochs=1, verbose=0, shuffle=False)
    online_after = _values([o for _, o in _target_pairs(model)])
    target_after = _values([t for t, _ in _target_pairs(model)])
    k = 1  # optimizer.iterations after the first step
    tau = 1 - (1 - base) * (math.cos(math.pi * k / total) + 1) / 2
    assert float(_np(model.target_decay.value)) == pytest.approx(tau, rel=1e-6)
    for t0, o1, t1 in zip(target_before, online_after, target_after):
        np.testing.assert_allclose(t1, tau * t0 + (1 - tau) * o1, rtol=1e-5, atol=1e-6)
    # The online network did move: the target did not just copy an unchanged one.
    assert any(not np.allclose(a, b) for a, b in zip(online_after, target_before))


def test_target_with_decay_one_never_changes():
    model = tiny_model(target_decay_base=1.0)
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    before = _values([t for t, _ in _target_pairs(model)])
    model.fit(toy_batch_dict(n=32), batch_size=16, epochs=1, verbose=0)
    for a, b in zip(before, _values([t for t, _ in _target_pairs(model)])):
        np.testing.assert_array_equal(a, b)


def test_fit_learns_the_toy_problem():
    keras.utils.set_random_seed(0)
    model = tiny_model(lambda_invariance=1.0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = model.fit(toy_batch_dict(n=96), batch_size=32, epochs=10, verbose=0).history
    for key in ("loss", "l_augm", "l_sempos", "i_augm",
                "pseudo_label_accuracy", "pseudo_label_coverage", "labelled_knn_accuracy"):
        assert key in history and np.all(np.isfinite(history[key])), key
    # The KL on semantic positives is off by default: its term is not logged.
    assert "i_sempos" not in history
    assert history["loss"][-1] < history["loss"][0]
    assert history["l_augm"][-1] < history["l_augm"][0]
    # Chance is 1/3 on three balanced classes; it must rise, not start high.
    acc = history["pseudo_label_accuracy"]
    assert acc[-1] > 0.8 and acc[-1] > acc[0] + 0.15, acc
    assert history["pseudo_label_coverage"][-1] == 1.0
    # 33 labelled examples x 10 epochs filled the 48 slots, with labelled ids only.
    labels = _np(model.queue.labels.value)
    ids = _np(model.queue.ids.value)
    valid = labels >= 0
    assert valid.sum() == 48 and np.all((ids[valid] // 3) % 3 == 0)
    np.testing.assert_array_equal(labels[valid], ids[valid] % 3)


def test_tuple_batches_and_small_views():
    from keras_semppl.encoders.small_convnet import small_convnet
    from keras_semppl.models import SemPPL

    encoder = small_convnet((None, None, 3), widths=(8, 16))
    model = SemPPL(encoder, 3, num_large_views=2, num_small_views=1, projector_hidden_dim=16,
                   projection_dim=8, predictor_hidden_dim=16, queue_size=32, num_negatives=3, seed=1)
    model.compile(optimizer="adam")
    d = toy_batch_dict(n=32)
    small = d["large_views"][0][:, :4, :4]
    as_tuple = (d["large_views"][0], d["large_views"][1], small, d["labels"])
    # The tuple form is the dict form without ids and hidden labels.
    as_dict = {"large_views": d["large_views"], "small_views": (small,), "labels": d["labels"]}
    floats = lambda terms: {k: float(_np(v)) for k, v in terms.items()}  # noqa: E731
    assert floats(model.loss_terms(as_tuple)) == floats(model.loss_terms(as_dict))
    # The model counts on its small view: a batch without one is refused.
    with pytest.raises(ValueError, match="0 small views but the model expects num_small_views=1"):
        model.loss_terms({"large_views": d["large_views"], "labels": d["labels"]})
    # And it trains exactly as the dict form does, on a twin of the model.
    twin = SemPPL.from_config(model.get_config())
    twin.set_weights(model.get_weights())
    twin.compile(optimizer="adam")
    fits = [m.fit(x, batch_size=16, epochs=1, verbose=0, shuffle=False).history["loss"][0]
            for m, x in ((model, as_tuple), (twin, as_dict))]
    assert np.isfinite(fits[0]) and fits[0] == fits[1]
    for a, b in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ bad input
def _fit(model, data, batch_size=16):
    model.compile(optimizer="adam")
    return model.fit(data, batch_size=batch_size, epochs=1, verbose=0)


@pytest.mark.parametrize("bad", [3, -2])
def test_labels_out_of_range_numpy(bad):
    data = toy_batch_dict(n=32)
    data["labels"][5] = bad
    with pytest.raises(ValueError, match=r"labels must lie in \[-1, num_classes\) = \[-1, 3\)"):
        _fit(tiny_model(), data)


def test_labels_out_of_range_tf_data():
    import tensorflow as tf

    data = toy_batch_dict(n=32)
    data["labels"][20] = 7
    ds = tf.data.Dataset.from_tensor_slices(data).batch(16, drop_remainder=True)
    with pytest.raises(Exception, match=r"labels must lie in \[-1, num_classes\)"):
        _fit(tiny_model(), ds)


def test_wrong_rank_and_wrong_channels():
    data = toy_batch_dict(n=32)
    data["large_views"] = (data["large_views"][0][..., 0], data["large_views"][1][..., 0])
    with pytest.raises(ValueError, match="rank 4"):
        _fit(tiny_model(), data)
    data = toy_batch_dict(n=32)
    data["large_views"] = tuple(v[..., :1] for v in data["large_views"])
    with pytest.raises(ValueError, match=r"image shape \(8, 8, 1\).*expects \(8, 8, 3\)"):
        _fit(tiny_model(), data)


def test_queue_smaller_than_batch():
    with pytest.raises(ValueError, match="queue.*size=16.*smaller"):
        _fit(tiny_model(queue_size=16), toy_batch_dict(n=64), batch_size=32)


def test_k_and_positives_larger_than_queue():
    with pytest.raises(ValueError, match="knn_k=20 is larger than queue_size=16"):
        tiny_model(queue_size=16, knn_k=20)
    with pytest.raises(ValueError, match="num_semantic_positives=17"):
        tiny_model(queue_size=16, num_semantic_positives=17)


def test_mismatched_view_counts():
    data = toy_batch_dict(n=32)
    v = data["large_views"][0]
    with pytest.raises(ValueError, match="3 views but the model expects"):
        _fit(tiny_model(), (v, v, v, data["labels"]))
    data["large_views"] = (v,)
    with pytest.raises(ValueError, match="1 large views but the model expects num_large_views=2"):
        _fit(tiny_model(), data)


def test_encoder_without_pooling_is_rejected():
    inputs = keras.Input((8, 8, 3))
    bad = keras.Model(inputs, keras.layers.Conv2D(4, 3)(inputs))
    from keras_semppl.models import SemPPL

    with pytest.raises(ValueError, match="pooled features"):
        SemPPL(bad, num_classes=3)


def _fit_batched(model, data):
    model.compile(optimizer="adam")
    return model.fit(data, epochs=1, verbose=0)


def test_labels_out_of_range_py_dataset():
    data = toy_batch_dict(n=32)
    data["labels"][20] = 9

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return {k: (tuple(x[16 * i:16 * (i + 1)] for x in v) if isinstance(v, tuple)
                        else v[16 * i:16 * (i + 1)]) for k, v in data.items()}

    with pytest.raises(ValueError, match=r"labels must lie in \[-1, num_classes\) = \[-1, 3\).*found \[9\]"):
        _fit_batched(tiny_model(), Batches())
    data["labels"][20] = 2  # the same source with valid labels trains ...
    if keras.backend.backend() == "tensorflow":
        # ... except on TF, where Keras turns a PyDataset into a tf.data
        # pipeline of unknown batch size: a clear error, not a wrong step.
        with pytest.raises(ValueError, match="static batch size"):
            _fit_batched(tiny_model(), Batches())
    else:
        # It trains on exactly the batches the same arrays give.
        keras.utils.set_random_seed(0)
        streamed = _fit_batched(tiny_model(), Batches()).history["loss"][0]
        keras.utils.set_random_seed(0)
        model = tiny_model()
        model.compile(optimizer="adam")
        arrays = model.fit(data, batch_size=16, epochs=1, verbose=0, shuffle=False)
        assert np.isfinite(streamed) and streamed == arrays.history["loss"][0]


def test_labels_out_of_range_torch_dataloader():
    torch_data = pytest.importorskip("torch.utils.data", reason="torch not installed")
    data = toy_batch_dict(n=32)
    data["labels"][3] = -5

    class Examples(torch_data.Dataset):
        def __len__(self):
            return 32

        def __getitem__(self, i):
            return {k: (tuple(x[i] for x in v) if isinstance(v, tuple) else v[i])
                    for k, v in data.items()}

    loader = torch_data.DataLoader(Examples(), batch_size=16, drop_last=True)
    with pytest.raises(ValueError, match=r"labels must lie in \[-1, num_classes\).*found \[-5\]"):
        _fit_batched(tiny_model(), loader)


def test_loss_terms_leave_every_variable_unchanged():
    """`loss_terms` is a pure read: no BatchNorm statistics, seeds, queue or
    target move, even in training mode, so two calls agree exactly."""
    keras.utils.set_random_seed(0)
    model = tiny_model()
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    data = toy_batch_dict(n=32)
    model.fit(data, batch_size=32, epochs=1, verbose=0)  # a non-empty queue
    before = _values(model.variables)
    first = {k: float(_np(v)) for k, v in model.loss_terms(data, training=True).items()}
    second = {k: float(_np(v)) for k, v in model.loss_terms(data, training=True).items()}
    assert first == second
    assert set(first) == {"loss", "l_augm", "l_sempos", "i_augm", "i_sempos", "objective"}
    assert first["objective"] == first["loss"]
    for v, value in zip(model.variables, before):
        np.testing.assert_array_equal(_np(v.value), value, err_msg=v.path)

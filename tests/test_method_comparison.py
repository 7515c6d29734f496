"""The main job's report: SemPPL's own classifier and the side-by-side table."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_semppl.encoders.small_convnet import small_convnet
from keras_semppl.evaluation.method_comparison import comparison_table
from keras_semppl.evaluation.method_comparison import compare_methods
from keras_semppl.evaluation.own_classifier import own_classifier_predict
from tests import numpy_reference as ref
from tests.toy_data import tiny_model


def _model(knn_k=1):
    keras.utils.set_random_seed(0)
    return tiny_model(projector_hidden_dim=16, projection_dim=8, predictor_hidden_dim=16,
                      queue_size=16, knn_k=knn_k)


def _images(n, seed):
    rng = np.random.default_rng(seed)
    return rng.random((n, 8, 8, 3)).astype("float32")


@pytest.mark.parametrize("knn_k", [1, 3])
def test_own_classifier_is_the_pseudo_label_vote_over_the_labelled_images(knn_k):
    model = _model(knn_k)
    reference, labels = _images(9, 1), np.array([0, 1, 2] * 3)
    queries = _images(7, 2)

    def embed(nets, x):
        for net in nets:
            x = net(x, training=False)
        return ref.unit(ops.convert_to_numpy(x).astype("float64"))

    online = embed((model.encoder, model.projector, model.predictor), queries)
    keys = embed((model.target_encoder, model.target_projector), reference)
    expected = ref.knn_vote(online[None], keys[None], labels, np.arange(9), -np.ones(7, int),
                            knn_k, 3)
    got = own_classifier_predict(model, reference, labels, queries)
    np.testing.assert_array_equal(got, expected)


def test_own_classifier_refuses_bad_references():
    model = _model(knn_k=3)
    with pytest.raises(ValueError, match="knn_k=3"):
        own_classifier_predict(model, _images(2, 0), np.array([0, 1]), _images(1, 1))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        own_classifier_predict(model, _images(4, 0), np.array([0, 1, 2, 3]), _images(1, 1))


@pytest.mark.slow
def test_compare_methods_scores_every_method_and_protocol():
    model = _model()
    images = _images(30, 3)
    labels = np.full(30, -1)
    labels[:9] = [0, 1, 2] * 3
    val_images, val_labels = _images(12, 4), np.arange(12) % 3
    inputs = keras.Input((8, 8, 3))
    encoder = small_convnet((8, 8, 3), widths=(4, 8), name="baseline")
    classifier = keras.Model(inputs, keras.layers.Dense(3)(encoder(inputs)))
    accuracy = compare_methods(images, labels, val_images, val_labels, 3, semppl=model,
                               supervised=(classifier, encoder))
    assert set(accuracy["SemPPL"]) == {"own", "knn", "linear"}
    assert set(accuracy["supervised"]) == {"own", "knn", "linear"}
    head = np.argmax(ops.convert_to_numpy(classifier(val_images)), -1)
    assert accuracy["supervised"]["own"] == pytest.approx(np.mean(head == val_labels))
    own = own_classifier_predict(model, images[:9], labels[:9], val_images)
    assert accuracy["SemPPL"]["own"] == pytest.approx(np.mean(own == val_labels))
    for name in ("raw_knn", "raw_logistic", "label_spreading"):
        assert set(accuracy[name]) == {"raw"}
    table = comparison_table(accuracy, knn_k=3)
    assert "own classifier" in table and "k-NN (k=3)" in table
    assert "LabelSpreading (transductive)" in table
    row = next(line for line in table.splitlines() if line.startswith("SemPPL"))
    assert f"{accuracy['SemPPL']['own']:.3f}" in row

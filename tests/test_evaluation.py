"""Evaluation protocols: k-NN against a NumPy reference, linear probe, fine-tuning, report."""

import numpy as np
import pytest

from keras_semppl.evaluation import EvaluationReport
from keras_semppl.evaluation import confusion_matrix
from keras_semppl.evaluation import evaluate_encoder
from keras_semppl.evaluation import knn_class_scores
from keras_semppl.evaluation import knn_classify
from keras_semppl.evaluation import knn_evaluate
from keras_semppl.evaluation import linear_probe_evaluate
from keras_semppl.evaluation import top_k_accuracy
from keras_semppl.evaluation.protocols import parse_protocols
from tests import numpy_reference


def _reference_topk(scores, labels, k):
    hits = 0
    for row, label in zip(scores, labels):
        ranked = sorted(range(len(row)), key=lambda c: (-row[c], c))
        hits += label in ranked[:k]
    return hits / len(labels)


@pytest.mark.backend_free
@pytest.mark.parametrize("k,temperature", [(1, 0.1), (5, 0.07), (12, 0.5)])
def test_knn_scores_and_topk_match_numpy_reference(k, temperature):
    rng = np.random.default_rng(k)
    ref, queries = rng.normal(size=(40, 6)), rng.normal(size=(17, 6))
    ref_labels, labels = rng.integers(0, 7, 40), rng.integers(0, 7, 17)
    got = knn_class_scores(ref, ref_labels, queries, 7, k=k, temperature=temperature,
                           chunk_size=5)
    want = numpy_reference.weighted_knn_scores(ref, ref_labels, queries, 7, k, temperature)
    np.testing.assert_allclose(got, want, rtol=1e-9)
    result = knn_evaluate(ref, ref_labels, queries, labels, 7, k=k, temperature=temperature)
    assert result.top1 == pytest.approx(_reference_topk(want, labels, 1))
    assert result.top5 == pytest.approx(_reference_topk(want, labels, 5))
    assert result.confusion.sum() == 17 and result.confusion.shape == (7, 7)
    assert result.settings == {"k": k, "temperature": temperature}


@pytest.mark.backend_free
def test_topk_and_confusion_by_hand():
    scores = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.2, 0.6]])
    labels = np.array([2, 0, 1])
    assert top_k_accuracy(scores, labels, 1) == pytest.approx(1 / 3)
    assert top_k_accuracy(scores, labels, 2) == pytest.approx(2 / 3)
    assert top_k_accuracy(scores, labels, 5) == 1.0  # clipped to 3 classes
    np.testing.assert_array_equal(confusion_matrix(labels, scores.argmax(1), 3),
                                  [[1, 0, 0], [0, 0, 1], [0, 1, 0]])


@pytest.mark.backend_free
def test_knn_rejects_bad_input():
    with pytest.raises(ValueError, match="reference_labels"):
        knn_class_scores(np.ones((3, 2)), [0, 1, 5], np.ones((1, 2)), 3)
    with pytest.raises(ValueError, match=r"\(N, F\)"):
        knn_class_scores(np.ones((3, 2)), [0, 1, 2], np.ones((1, 3)), 3)
    with pytest.raises(ValueError, match="Unknown protocol"):
        parse_protocols("knn,svm")


def _blobs(n=120, num_classes=4, dim=8, seed=0):
    rng = np.random.default_rng(seed)
    centres = 4.0 * rng.normal(size=(num_classes, dim))
    y = np.arange(n) % num_classes
    return (centres[y] + rng.normal(size=(n, dim))).astype("float32"), y


def test_linear_probe_separates_blobs():
    x, y = _blobs()
    result = linear_probe_evaluate(x[:60], y[:60], x[60:], y[60:], 4, epochs=30)
    assert result.protocol == "linear" and result.top1 >= 0.95 and result.num_train == 60


def test_linear_probe_head_folds_the_standardisation_into_the_weights():
    from keras_semppl.evaluation.linear_probe import linear_probe_head
    from keras_semppl.evaluation.linear_probe import train_linear_probe

    x, y = _blobs()
    x = x * np.array([1.0, 30.0, 0.01] + [1.0] * (x.shape[1] - 3)) + 5.0  # uneven scales
    kernel, bias = linear_probe_head(x[:60], y[:60], 4, epochs=30, seed=3)
    assert kernel.shape == (x.shape[1], 4) and bias.shape == (4,)
    predict = train_linear_probe(x[:60], y[:60], 4, epochs=30, seed=3)
    # The probe's logits for (e - mean) / std are e @ kernel + bias on raw e.
    np.testing.assert_allclose(x[60:] @ kernel + bias, predict(x[60:]), rtol=1e-4, atol=1e-3)


def test_finetune_head_starts_from_the_linear_probe():
    import keras

    from keras_semppl.evaluation.embed import embed_images
    from keras_semppl.evaluation.finetune import finetune_classifier
    from keras_semppl.evaluation.linear_probe import linear_probe_head

    keras.utils.set_random_seed(0)
    encoder = keras.Sequential([keras.Input((8, 8, 3)),
                                keras.layers.Conv2D(8, 3, activation="relu"),
                                keras.layers.GlobalAveragePooling2D()])
    x, y = _colour_images(n=40)
    # A learning rate of 0: the head keeps its starting weights.
    classifier = finetune_classifier(encoder, x, y, 4, epochs=1, batch_size=10, base_lr=0.0,
                                     head_init="linear_probe", seed=1)
    expected = linear_probe_head(embed_images(encoder, x), y, 4, seed=1)
    for got, want in zip(classifier.get_layer("finetune_head").get_weights(), expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="head_init must be one of"):
        finetune_classifier(encoder, x, y, 4, epochs=1, head_init="probe")


def _colour_images(n=120, num_classes=4, seed=0):
    rng = np.random.default_rng(seed)
    colours = rng.random((num_classes, 1, 1, 3)).astype("float32")
    y = np.arange(n) % num_classes
    return np.clip(colours[y] + 0.2 * rng.normal(size=(n, 8, 8, 3)), 0, 1).astype("float32"), y


def test_all_protocols_on_a_separable_image_set():
    import keras

    keras.utils.set_random_seed(0)
    # No BatchNorm: a random encoder's moving statistics would need many steps.
    encoder = keras.Sequential([keras.Input((8, 8, 3)),
                                keras.layers.Conv2D(8, 3, activation="relu"),
                                keras.layers.GlobalAveragePooling2D()])
    before = [w.copy() for w in encoder.get_weights()]
    x, y = _colour_images()
    labels = np.where((np.arange(60) // 4) % 2 == 0, y[:60], -1)  # half of each class hidden
    report = evaluate_encoder(encoder, x[:60], labels, x[60:], y[60:], 4,
                              linear_kwargs={"epochs": 30},
                              finetune_kwargs={"epochs": 20, "batch_size": 10, "base_lr": 2.0},
                              dataset="colours")
    assert [r.protocol for r in report.results] == ["knn", "linear", "finetune"]
    for result in report.results:
        assert result.num_train == int((labels >= 0).sum()) and result.num_test == 60
        assert result.top1 >= 0.9, report.to_text()
        assert result.top5 == 1.0
    # Fine-tuning trained a copy: the encoder passed in is unchanged.
    for a, b in zip(before, encoder.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert report["finetune"].settings["epochs"] == 20


@pytest.mark.backend_free
def test_report_text_and_dict():
    from keras_semppl.evaluation import ProtocolResult

    result = ProtocolResult("knn", 0.5, 1.0, np.array([[1, 1], [0, 2]]), 10, 4, {"k": 3})
    report = EvaluationReport([result], dataset="toy", num_classes=2, class_names=["cat", "dog"])
    text = report.to_text()
    assert "knn" in text and "0.5000" in text and "k=3" in text and "dog" in text
    assert "confusion" not in report.to_text(confusion=False)
    d = report.to_dict()
    assert d["results"][0]["confusion"] == [[1, 1], [0, 2]] and d["dataset"] == "toy"
    with pytest.raises(KeyError):
        report["linear"]


@pytest.mark.backend_free
def test_random_crop_flip_gives_shifted_windows_of_the_padded_image():
    from keras_semppl.evaluation import random_crop_flip

    rng = np.random.default_rng(0)
    images = rng.random((40, 6, 5, 2)).astype("float32")
    out = random_crop_flip(pad=2, seed=1)(images)
    assert out.shape == images.shape and out.dtype == np.float32
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)))
    flipped = 0
    for i in range(len(images)):
        windows = [padded[i, y:y + 6, x:x + 5] for y in range(5) for x in range(5)]
        plain = any(np.array_equal(out[i], w) for w in windows)
        mirror = any(np.array_equal(out[i, :, ::-1], w) for w in windows)
        assert plain or mirror, i
        flipped += mirror and not plain
    assert 5 < flipped < 35  # p = 0.5 of 40
    # pad=0: the image itself or its mirror image.
    same = random_crop_flip(pad=0, seed=2)(images)
    for a, b in zip(same, images):
        assert np.array_equal(a, b) or np.array_equal(a, b[:, ::-1])
    with pytest.raises(ValueError, match="pad"):
        random_crop_flip(pad=-1)


@pytest.mark.backend_free
def test_knn_classify_against_hand_computed_case():
    ref = np.array([[1, 0], [0.9, 0.1], [0, 1], [-1, 0]], "float32")
    labels = np.array([0, 0, 1, 2])
    queries = np.array([[1, 0.05], [0.1, 1]], "float32")
    np.testing.assert_array_equal(knn_classify(ref, labels, queries, 3, k=1), [0, 1])
    # k=3 at query [0.1, 1]: neighbours 2 (label 1, sim ~0.995), 1 (label 0),
    # 0 (label 0): two weaker votes of class 0 beat one of class 1 at a high temperature.
    assert knn_classify(ref, labels, queries[1:], 3, k=3, temperature=100.0)[0] == 0
    assert knn_classify(ref, labels, queries[1:], 3, k=3, temperature=0.01)[0] == 1

"""TFDS sources on mocked data (`tfds.testing.mock_data`): no network."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

from keras_semppl.data.sources import resolve_dataset
from keras_semppl.data.tfds_source import load_tfds
from keras_semppl.data.tfds_source import tfds_imagenet_subset

pytestmark = pytest.mark.backend_free

DATA_DIR = "/nonexistent/tfds"  # mock_data ignores it; real calls would use it


def test_cifar10_budget_and_val_split():
    with tfds.testing.mock_data(num_examples=60):
        data = load_tfds("cifar10", DATA_DIR, val_split="test")
        assert data.images.shape == (60, 32, 32, 3)
        assert data.val_images.shape == (60, 32, 32, 3)
        np.testing.assert_array_equal(data.labels, data.true_labels)
        assert data.num_classes == 10 and len(data.class_names) == 10
        assert 0.0 <= data.images.min() and data.images.max() <= 1.0
        data = load_tfds("cifar10", DATA_DIR, labels_per_class=1, seed=0)
    present = np.unique(data.true_labels)
    assert data.num_labelled == len(present)  # mock labels: not every class


def test_cifar100_fraction_and_val_fraction_deterministic():
    with tfds.testing.mock_data(num_examples=400):
        a = load_tfds("cifar100", DATA_DIR, val_fraction=0.5, labels_per_class=1,
                      label_key="coarse_label", seed=4)
        b = load_tfds("cifar100", DATA_DIR, val_fraction=0.5, labels_per_class=1,
                      label_key="coarse_label", seed=4)
    assert a.num_classes == 20
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.counts()[:, 0], np.ones(20))
    assert len(a.images) + len(a.val_images) == 400


def test_stl10_unlabelled_split_added_by_default():
    with tfds.testing.mock_data(num_examples=12):
        data = load_tfds("stl10", DATA_DIR, image_size=24)
        plain = load_tfds("stl10", DATA_DIR, image_size=24, unlabelled_split=False)
    assert data.images.shape == (24, 24, 24, 3)
    assert np.all(data.labels[12:] == -1) and np.all(data.labels[:12] >= 0)
    assert plain.images.shape == (12, 24, 24, 3)
    data.summary()


def test_imagenette_needs_image_size():
    with tfds.testing.mock_data(num_examples=5):
        with pytest.raises(ValueError, match="image_size"):
            load_tfds("imagenette/160px-v2", DATA_DIR)
        data = load_tfds("imagenette/160px-v2", DATA_DIR, image_size=(16, 20),
                         labelled_split="train", unlabelled_split="validation")
    assert data.images.shape == (10, 16, 20, 3)
    assert data.num_labelled == 5


def test_imagenet_subset_streams():
    with tfds.testing.mock_data(num_examples=4):
        subset = tfds_imagenet_subset(DATA_DIR, percent=1, image_size=8)
        labelled = list(subset.labelled.as_numpy_iterator())
        unlabelled = list(subset.unlabelled.as_numpy_iterator())
        evaluation = list(subset.eval.as_numpy_iterator())
        raw = tfds_imagenet_subset(DATA_DIR, percent=10)
        raw_image = next(raw.labelled.as_numpy_iterator())["image"]
    assert subset.num_classes == 1000
    assert len(labelled) == len(unlabelled) == len(evaluation) == 4
    assert labelled[0]["image"].shape == (8, 8, 3)
    assert all(0 <= x["label"] < 1000 for x in labelled)
    assert all(x["label"] == -1 and 0 <= x["true_label"] < 1000 for x in unlabelled)
    assert raw_image.dtype == np.uint8 and raw_image.ndim == 3
    with pytest.raises(ValueError, match="percent"):
        tfds_imagenet_subset(DATA_DIR, percent=5)


def test_resolve_tfds_names():
    with tfds.testing.mock_data(num_examples=20):
        data = resolve_dataset("cifar10", data_dir=DATA_DIR, val_fraction=0.0)
        tagged = resolve_dataset("tfds:cifar10", data_dir=DATA_DIR, val_fraction=0.0)
    assert data.images.shape == tagged.images.shape == (20, 32, 32, 3)


def test_not_prepared_names_dataset_and_dir(tmp_path):
    with pytest.raises(ValueError, match=rf"cifar10.*{tmp_path}"):
        load_tfds("cifar10", str(tmp_path))
    with pytest.raises(ValueError, match=rf"imagenet2012_subset/1pct.*{tmp_path}"):
        tfds_imagenet_subset(str(tmp_path), percent=1)

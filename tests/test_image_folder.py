"""Image-folder loading on a small slice of CIFAR-10 JPEGs (or generated images)."""

import numpy as np
import pytest
import tensorflow as tf

from keras_semppl.data.image_folder import load_image_folder
from keras_semppl.data.sources import resolve_dataset
from tests.cifar_slice import extract_cifar_slice

pytestmark = pytest.mark.backend_free

CLASSES = ("airplane", "automobile", "bird")
PER_CLASS = 20


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory):
    """root/<class>/<NNNN>.jpg with PER_CLASS images for each of CLASSES."""
    return extract_cifar_slice(tmp_path_factory.mktemp("cifar") / "train", CLASSES, PER_CLASS)


def _write(path, image, fmt):
    image = tf.constant(image, tf.uint8)
    data = tf.io.encode_png(image) if fmt == "png" else tf.io.encode_jpeg(image)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.numpy())


def test_loads_all_images_sorted_classes(cifar_root):
    data = load_image_folder(cifar_root)
    assert data.images.shape == (3 * PER_CLASS, 32, 32, 3)
    assert data.images.dtype == np.float32
    assert 0.0 <= data.images.min() and data.images.max() <= 1.0
    assert data.class_names == CLASSES
    np.testing.assert_array_equal(data.labels, np.repeat([0, 1, 2], PER_CLASS))
    assert data.val_images.shape == (0, 32, 32, 3)
    assert data.skipped == []
    # Same pixels as a direct decode of the first file.
    first = sorted((cifar_root / "airplane").iterdir())[0]
    direct = tf.io.decode_jpeg(first.read_bytes()).numpy() / 255.0
    np.testing.assert_allclose(data.images[0], direct, atol=1e-6)


def test_label_budget_exact_per_class_and_val(cifar_root):
    data = load_image_folder(cifar_root, val_fraction=0.25, labels_per_class=4, seed=3)
    counts = data.counts()
    np.testing.assert_array_equal(counts[:, 0], [4, 4, 4])
    np.testing.assert_array_equal(counts[:, 1], [11, 11, 11])
    np.testing.assert_array_equal(counts[:, 2], [5, 5, 5])
    assert "airplane" in data.summary() and "total" in data.summary()
    frac = load_image_folder(cifar_root, label_fraction=0.1, seed=3)
    np.testing.assert_array_equal(frac.counts()[:, 0], [2, 2, 2])


def test_deterministic_by_seed_and_no_overlap(cifar_root):
    a = load_image_folder(cifar_root, val_fraction=0.25, labels_per_class=4, seed=1)
    b = load_image_folder(cifar_root, val_fraction=0.25, labels_per_class=4, seed=1)
    c = load_image_folder(cifar_root, val_fraction=0.25, labels_per_class=4, seed=2)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.array_equal(a.labels, c.labels) or not np.array_equal(a.val_images,
                                                                         c.val_images)
    # Train and validation images are disjoint, and together are all images.
    flat = lambda x: {im.tobytes() for im in x}  # noqa: E731
    assert not flat(a.images) & flat(a.val_images)
    assert len(flat(a.images) | flat(a.val_images)) == 3 * PER_CLASS


def test_unlabelled_dir_and_odd_images(cifar_root, tmp_path):
    root = tmp_path / "data"
    for c in CLASSES[:2]:
        for src in sorted((cifar_root / c).iterdir())[:5]:
            (root / c).mkdir(parents=True, exist_ok=True)
            (root / c / src.name).write_bytes(src.read_bytes())
    rng = np.random.default_rng(0)
    _write(root / CLASSES[0] / "gray.png", rng.integers(0, 256, (32, 32, 1)), "png")
    _write(root / CLASSES[1] / "wide.jpg", rng.integers(0, 256, (20, 40, 3)), "jpeg")
    (root / CLASSES[1] / "notes.txt").write_text("not an image")
    unlabelled = root / "unlabelled"  # inside root: must not become a class
    for i in range(3):
        _write(unlabelled / f"u{i}.png", rng.integers(0, 256, (32, 32, 3)), "png")
    data = load_image_folder(root, unlabelled_dir=unlabelled)
    assert data.class_names == CLASSES[:2]
    assert data.images.shape == (15, 32, 32, 3)
    np.testing.assert_array_equal(data.labels[-3:], [-1, -1, -1])
    np.testing.assert_array_equal(data.true_labels[-3:], [-1, -1, -1])
    assert data.num_unknown == 3
    gray = data.images[5]  # sorted: 0000.jpg ... 0004.jpg, gray.png
    np.testing.assert_array_equal(gray[..., 0], gray[..., 1])
    assert "(none)" in data.summary()
    one = load_image_folder(root, unlabelled_dir=unlabelled, channels=1, image_size=16)
    assert one.images.shape == (15, 16, 16, 1)


def test_corrupt_file_named_or_skipped(cifar_root, tmp_path):
    root = tmp_path / "data"
    for c in CLASSES:
        (root / c).mkdir(parents=True)
        for src in sorted((cifar_root / c).iterdir())[:3]:
            (root / c / src.name).write_bytes(src.read_bytes())
    bad = root / CLASSES[2] / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 definitely not a jpeg")
    with pytest.raises(ValueError, match="broken.jpg"):
        load_image_folder(root)
    data = load_image_folder(root, skip_corrupt=True)
    assert data.skipped == [str(bad)]
    assert len(data.images) == 9
    assert "skipped 1" in data.summary()


def test_folder_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_image_folder(tmp_path / "missing")
    with pytest.raises(ValueError, match="no class sub-folders"):
        load_image_folder(tmp_path)
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "readme.md").write_text("x")
    with pytest.raises(ValueError, match="cat"):
        load_image_folder(tmp_path)


def test_label_budget_too_large(cifar_root):
    with pytest.raises(ValueError, match="labels_per_class"):
        load_image_folder(cifar_root, labels_per_class=PER_CLASS + 1)


def test_resolve_dataset_forms(cifar_root):
    data = resolve_dataset(f"folder:{cifar_root}", labels_per_class=2, val_fraction=0.1)
    np.testing.assert_array_equal(data.counts()[:, 0], [2, 2, 2])
    digits = resolve_dataset("digits", image_size=8, val_fraction=0.2)
    assert digits.images.shape[1:] == (8, 8, 3)
    with pytest.raises(ValueError, match="Accepted forms"):
        resolve_dataset("no such thing!")
    with pytest.raises(ValueError, match="Accepted forms"):
        resolve_dataset("definitely_not_a_tfds_dataset")
    with pytest.raises(ValueError, match="tfds_imagenet_subset"):
        resolve_dataset("imagenet2012")

"""`semppl train --dataset ...`: an image folder of real CIFAR-10 JPEGs, TFDS
cifar10 under `tfds.testing.mock_data`, presets, and argument errors."""

import json

import numpy as np
import pytest
import tensorflow_datasets as tfds

from keras_semppl.augment.presets import view_preset
from keras_semppl.cli.main import main
from keras_semppl.data.arrays import SemiSupervisedArrays
from keras_semppl.data.arrays import apply_label_budget
from tests.cifar_slice import extract_cifar_slice

CLASSES = ("airplane", "cat", "ship", "truck")
PER_CLASS = 10
TINY = ["--epochs", "1", "--batch-size", "16", "--labelled-per-batch", "4",
        "--queue-size", "32", "--hidden-dim", "16", "--projection-dim", "8",
        "--num-large-views", "2", "--num-small-views", "0", "--verbose", "0"]


@pytest.fixture(scope="module")
def cifar_folder(tmp_path_factory):
    """root/<class>/<file>.jpg, PER_CLASS JPEGs of each of CLASSES."""
    return extract_cifar_slice(tmp_path_factory.mktemp("cli_cifar") / "train", CLASSES, PER_CLASS)


def _report(capsys):
    out = capsys.readouterr().out
    return out, json.loads(out.strip().splitlines()[-1])


@pytest.mark.integration
@pytest.mark.slow
def test_folder_dataset_trains_and_reports_both(cifar_folder, tmp_path, capsys):
    out_file = tmp_path / "f.keras"
    code = main(["train", "--dataset", f"folder:{cifar_folder}", "--labels-per-class", "2",
                 "--steps-per-epoch", "1", "--output", str(out_file)] + TINY)
    assert code == 0
    out, report = _report(capsys)
    # 10 per class, val_fraction 0.1 -> 1 held out per class; 2 labels per class kept.
    assert report["validation"] == 4 and report["labelled"] == 8
    assert report["dataset"] == f"folder:{cifar_folder}"
    for method in ("SemPPL", "supervised"):
        for value in report["accuracy"][method].values():
            assert value in {0.0, 0.25, 0.5, 0.75, 1.0}
    assert "SemPPL" in out and "supervised baseline" in out and "4 test images" in out
    assert out_file.is_file()


@pytest.mark.integration
@pytest.mark.slow
def test_tfds_cifar10_under_mock_data(tmp_path, capsys):
    with tfds.testing.mock_data(num_examples=60):
        code = main(["train", "--dataset", "cifar10", "--data-dir", "/nonexistent/tfds",
                     "--label-fraction", "0.1", "--steps-per-epoch", "1", "--no-baseline",
                     "--output", str(tmp_path / "t.keras")] + TINY + ["--num-small-views", "1"])
    assert code == 0
    _, report = _report(capsys)
    assert report["validation"] == 60  # cifar10's own test split, not a held-out share
    assert report["labelled"] == 10
    assert 0.0 <= report["accuracy"]["SemPPL"]["knn"] <= 1.0


@pytest.mark.parametrize("argv,message", [
    (["--label-fraction", "0.1", "--labels-per-class", "3"], "not allowed with"),
    (["--dataset", "folder:"], "--dataset"),
    (["--dataset", "no_such_dataset_xyz"], "--dataset 'no_such_dataset_xyz'"),
    (["--unlabelled-dir", "/tmp"], "--unlabelled-dir"),
    (["--labels-per-class", "0"], "--labels-per-class must be positive"),
    (["--val-fraction", "1.0"], "--val-fraction"),
    (["--labelled-per-batch", "200"], "--labelled-per-batch"),
    (["--views-preset", "digits", "--num-small-views", "2"], "--num-small-views"),
])
@pytest.mark.backend_free
def test_bad_arguments_name_the_flag(argv, message, capsys):
    with pytest.raises(SystemExit) as caught:
        main(["train"] + argv)
    text = str(caught.value.code) + capsys.readouterr().err
    assert message in text


@pytest.mark.backend_free
def test_view_presets_sizes_and_counts():
    cifar = view_preset("cifar")
    assert [v.size for v in cifar.large] == [32] * 4 and [v.size for v in cifar.small] == [16] * 2
    imagenet = view_preset("ImageNet", num_large=2, num_small=0)
    assert [v.size for v in imagenet.large] == [224, 224] and imagenet.small == ()
    # BYOL asymmetry: view one always blurred, view two sometimes solarized;
    # at 32 px the blur is off in both views.
    assert (imagenet.large[0].blur_prob, imagenet.large[1].blur_prob) == (1.0, 0.1)
    assert (cifar.large[0].blur_prob, cifar.large[1].blur_prob) == (0.0, 0.0)
    assert (cifar.large[0].solarize_prob, cifar.large[1].solarize_prob) == (0.0, 0.2)
    with pytest.raises(ValueError, match="known presets: cifar, digits, imagenet"):
        view_preset("svhn")


@pytest.mark.backend_free
def test_counts_leave_out_unknown_class_and_budget_helper():
    true = np.array([0, 0, 1, 1, 1, -1, -1], np.int32)
    labels = np.array([0, -1, 1, -1, -1, -1, -1], np.int32)
    data = SemiSupervisedArrays(np.zeros((7, 2, 2, 3), np.float32), labels, true,
                                np.zeros((1, 2, 2, 3), np.float32), np.array([1], np.int32), 2)
    np.testing.assert_array_equal(data.counts(), [[1, 1, 0], [1, 2, 1]])
    assert data.num_unknown == 2
    assert "(none)" in data.summary() and data.summary().splitlines()[-1].split()[2] == "5"
    np.testing.assert_array_equal(apply_label_budget(true[:5], 2), true[:5])
    kept = apply_label_budget(true[:5], 2, labels_per_class=1, seed=3)
    np.testing.assert_array_equal(np.bincount(kept[kept >= 0], minlength=2), [1, 1])

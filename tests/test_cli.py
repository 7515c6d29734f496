"""`semppl train` end to end at a tiny size, and its argument checks."""

import dataclasses
import json

import keras
import numpy as np
import pytest

from keras_semppl.cli.main import build_parser
from keras_semppl.cli.main import main
from keras_semppl.cli.train_plan import resolve_plan
from keras_semppl.data.digits import load_digits
from tests import numpy_reference
from tests.toy_data import TINY_TRAIN_ARGS


@pytest.mark.integration
@pytest.mark.slow
def test_train_runs_reports_both_accuracies_and_saves(tmp_path, capsys):
    out = tmp_path / "m.keras"
    code = main(["train", *TINY_TRAIN_ARGS, "--verbose", "0", "--output", str(out),
                 "--plots", str(tmp_path / "plots"), "--online-probe",
                 # float32: the k-NN accuracy is recomputed below within 1.5 images;
                 # bfloat16 embeddings may break near-ties differently per batch size.
                 "--precision", "fp32"])
    assert code == 0
    printed = capsys.readouterr().out
    report = json.loads(printed.strip().splitlines()[-1])
    assert report["labelled"] == 140 and report["validation"] == 359
    # The k-NN rule is printed, as `semppl evaluate` prints it; the history is
    # written beside the model, where `semppl plot --model` looks for it.
    assert "k-NN: k=14 (at most 20, clipped to the 14 labels of the rarest class)" in printed
    history = json.loads((tmp_path / "m.history.json").read_text())
    assert len(history["loss"]) == 1 and "probe_accuracy" in history
    accuracy = report["accuracy"]
    assert set(accuracy) == {"SemPPL", "supervised", "raw_knn", "raw_logistic", "raw_svm",
                             "label_spreading"}
    for method in ("SemPPL", "supervised"):
        assert set(accuracy[method]) == {"own", "knn", "linear"}
    # Far above chance (0.1) even after one epoch: the pipeline is wired up.
    assert accuracy["supervised"]["knn"] > 0.2
    # The classical baselines are deterministic: raw-pixel k-NN on this split
    # (k=14, distance-weighted), recomputed here with scikit-learn directly.
    assert report["knn_k"] == 14
    assert accuracy["raw_knn"]["raw"] == pytest.approx(_raw_knn_on_digits(seed=0))
    loaded = keras.models.load_model(out)
    assert loaded.num_classes == 10 and loaded.online_probe
    # The reported SemPPL k-NN accuracy is the weighted k-NN (k=14, T=0.07) of
    # the saved encoder, labelled training digits voting for the held-out ones.
    data = load_digits(image_size=8, val_fraction=0.2, label_fraction=0.1, seed=0)
    encoder = loaded.extract_encoder()
    embed = lambda x: keras.ops.convert_to_numpy(encoder(x, training=False))  # noqa: E731
    scores = numpy_reference.weighted_knn_scores(
        embed(data.images[data.labelled_mask]), data.labels[data.labelled_mask],
        embed(data.val_images), 10, 14, 0.07)
    expected = np.mean(scores.argmax(axis=1) == data.val_labels)
    assert accuracy["SemPPL"]["knn"] == pytest.approx(expected, abs=1.5 / 359)
    history = json.loads((tmp_path / "plots" / "history.json").read_text())
    assert "pseudo_label_accuracy" in json.dumps(history)
    assert "probe_accuracy" in json.dumps(history)
    assert (tmp_path / "plots" / "training_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _raw_knn_on_digits(seed):
    import numpy as np
    from sklearn.neighbors import KNeighborsClassifier

    from keras_semppl.data.digits import load_digits

    from sklearn.model_selection import GridSearchCV
    from sklearn.model_selection import StratifiedKFold

    data = load_digits(image_size=8, val_fraction=0.2, label_fraction=0.1, seed=seed)
    known = data.labels >= 0
    flat = lambda x: x.reshape(len(x), -1)
    # k by 5-fold cross-validation on the labelled digits alone, k in 1..16.
    knn = GridSearchCV(KNeighborsClassifier(weights="distance"),
                       {"n_neighbors": list(range(1, 17))},
                       cv=StratifiedKFold(5, shuffle=True, random_state=seed)).fit(
        flat(data.images[known]), data.labels[known])
    return float(np.mean(knn.predict(flat(data.val_images)) == data.val_labels))


@pytest.mark.integration
@pytest.mark.slow
def test_report_json_ablation_and_no_classical(tmp_path, capsys):
    report_path = tmp_path / "out" / "report.json"
    code = main(["train", *TINY_TRAIN_ARGS, "--verbose", "0", "--output",
                 str(tmp_path / "m.keras"), "--no-semantic-positives", "--no-baseline",
                 "--no-classical", "--report-json", str(report_path)])
    assert code == 0
    out = capsys.readouterr().out
    printed = json.loads(out.strip().splitlines()[-1])
    assert json.loads(report_path.read_text()) == printed
    assert "softmax head" not in out  # no baseline, no footnote about its head
    assert set(printed["accuracy"]) == {"SemPPL"}
    assert "final_pseudo_label_accuracy" not in printed
    assert not keras.models.load_model(tmp_path / "m.keras").semantic_positives


def test_distribute_unavailable_engine_is_a_clear_error():
    # jax and torch have no tf.distribute strategies.
    wrong = {"jax": "mirrored", "torch": "mirrored"}.get(keras.backend.backend())
    if wrong is None:
        pytest.skip("every engine name is valid under tensorflow")
    with pytest.raises(SystemExit, match="--distribute"):
        main(["train", "--distribute", wrong, "--epochs", "1"])


@pytest.mark.parametrize("argv,message", [
    (["--output", "x.h5"], "must end with .keras"),
    (["--epochs", "0"], "--epochs must be positive"),
    (["--label-fraction", "1.5"], "--label-fraction must be in"),
])
@pytest.mark.backend_free
def test_bad_arguments(argv, message):
    with pytest.raises(SystemExit, match=message):
        main(["train"] + argv)


def _plan(*argv):
    return resolve_plan(build_parser().parse_args(["train", *argv]))


@pytest.mark.backend_free
def test_plan_fills_the_digits_defaults():
    plan = _plan()
    assert (plan.dataset, plan.image_size, plan.val_fraction, plan.label_fraction) == (
        "digits", 16, 0.2, 0.1)
    assert (plan.views_preset, plan.num_large_views, plan.num_small_views) == ("digits", 2, 0)
    assert (plan.epochs, plan.learning_rate, plan.lambda_invariance) == (40, 5e-3, None)
    assert plan.output == "runs/semppl_digits.keras" and plan.baseline and plan.classical
    assert plan.semantic_positives and plan.report_json is None
    assert plan.precision == "auto"  # resolved when the run starts (keras_semppl.precision)
    assert plan.labelled_per_batch == 32
    views = plan.views(image_side=8)
    assert [v.size for v in views.large] == [16, 16] and views.small == ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.num_small_views = 3


@pytest.mark.backend_free
def test_plan_view_counts_come_from_the_flags_or_the_preset():
    plan = _plan("--dataset", "cifar10")
    assert (plan.views_preset, plan.num_large_views, plan.num_small_views) == ("cifar", 4, 2)
    assert plan.val_fraction == 0.1 and plan.image_size is None
    assert plan.output == "runs/semppl.keras"
    plan = _plan("--dataset", "cifar10", "--num-small-views", "1", "--num-large-views", "3",
                 "--lambda-invariance", "2.5", "--labels-per-class", "4")
    assert (plan.num_large_views, plan.num_small_views) == (3, 1)
    assert plan.lambda_invariance == 2.5
    assert plan.labels_per_class == 4 and plan.label_fraction is None
    views = plan.views(image_side=32)
    assert [v.size for v in views.large] == [32] * 3 and [v.size for v in views.small] == [16]
    assert _plan("--labelled-per-batch", "0").labelled_per_batch is None


@pytest.mark.integration
def test_precision_bf16_trains_the_run_under_mixed_bfloat16(tmp_path, capsys):
    try:
        code = main(["train", *TINY_TRAIN_ARGS, "--steps-per-epoch", "2", "--verbose", "0",
                     "--output", str(tmp_path / "m.keras"), "--no-baseline", "--no-classical",
                     "--precision", "bf16"])
        assert code == 0
        report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert report["precision"] == "bf16"
        assert all(np.isfinite(v) for v in report["accuracy"]["SemPPL"].values())
        loaded = keras.models.load_model(tmp_path / "m.keras")
        encoder = loaded.extract_encoder()
        assert encoder.layers[-1].dtype_policy.name == "mixed_bfloat16"
        # Weights stay float32 under the mixed policy; the queue too.
        assert all(w.dtype == "float32" for w in encoder.weights)
        assert all(w.dtype in ("float32", "int32") for w in loaded.queue.weights)
        # The run's policy does not leak into the caller's process.
        assert keras.mixed_precision.global_policy().name == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--precision", "fp16"])

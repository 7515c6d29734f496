"""The CIFAR-10 quality benchmark trains, saves its models, and re-scores them elsewhere."""

import json
import os
import subprocess
import sys
import tarfile

import pytest

from tests.cifar_slice import generate_cifar_like
from tests.saved_state import benchmark_module

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "benchmarks", "cifar10_quality.py")
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
           "truck")
TINY = ["--labels-per-class", "4", "--epochs", "1", "--batch-size", "32",
        "--labelled-per-batch", "8", "--widths", "4,8,8", "--linear-epochs", "1",
        "--finetune-epochs", "1", "--finetune-seeds", "1", "--precision", "fp32",
        "--supervised-passes", "1", "--supervised-augment", "crop_flip"]


def _run(args, tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("SEMPPL_CIFAR_TAR", None)
    return subprocess.run([sys.executable, SCRIPT] + args, cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=900)


@pytest.mark.backend_free  # the script runs in subprocesses under the session's backend
@pytest.mark.integration
@pytest.mark.slow
def test_trains_saves_and_scores_on_another_folder(tmp_path):
    train = generate_cifar_like(tmp_path / "src" / "train", CLASSES, 20)
    archive = tmp_path / "train.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(train, arcname="train")
    out = tmp_path / "res" / "run"
    proc = _run(["--archive", str(archive), "--out", str(out)] + TINY, tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    record = json.loads(out.with_suffix(".json").read_text())
    meta, results = record["meta"], record["results"]
    # 20 per class, 10 % held out -> 18 left, 4 of them labelled per class.
    assert meta["labelled"] == 40 and meta["validation"] == 20 and meta["train_images"] == 180
    assert meta["queue_size"] == 40  # labelled count in whole labelled batches, >= the batch
    assert str(archive) not in meta["command"]
    protocols = ("knn", "linear", "finetune", "finetune_lpft", "finetune_random_head")
    for method in ("semppl", "no_semantic_positives", "supervised"):
        assert all(0.0 <= results[method][p] <= 1.0 for p in protocols)
        for kind in ("encoder", "finetuned"):
            assert (out / f"{method}_{kind}.keras").is_file()
    for r in results.values():  # the headline is the recipe chosen on unlabelled images
        chosen = max(r["finetune_selection"], key=r["finetune_selection"].get)
        assert r["finetune_recipe"] == chosen
        assert r["finetune"] == r["finetune_lpft" if chosen == "lpft" else "finetune_random_head"]
        assert r["finetune_per_seed"] == [pytest.approx(r["finetune"])]  # one seed
    assert results["supervised"]["recipe"] == {"learning_rate": 2e-3, "weight_decay": 1e-4,
                                               "passes": 1.0, "augment": "crop_flip"}
    assert len(results["semppl"]["history"]["pseudo_label_accuracy"]) == 1
    assert "| semppl |" in out.with_suffix(".md").read_text()

    # Protocols again from the saved encoders: no training, encoders untouched.
    encoder_bytes = (out / "semppl_encoder.keras").read_bytes()
    # SemPPL's protocols again, two fine-tuning seeds each; the other rows are kept.
    proc = _run(["--archive", str(archive), "--out", str(out), "--reuse-encoders",
                 "--finetune-lr", "0.1", "--methods", "semppl"] + TINY
                + ["--finetune-seeds", "2"], tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Epoch 1/1" not in proc.stdout
    again = json.loads(out.with_suffix(".json").read_text())
    assert again["meta"]["finetune_lr"] == 0.1 and "--reuse-encoders" in again["meta"][
        "protocols_command"]
    semppl = again["results"]["semppl"]
    assert semppl["history"] == results["semppl"]["history"] and "earlier" not in semppl
    assert len(semppl["finetune_per_seed"]) == 2
    assert semppl["finetune"] == pytest.approx(sum(semppl["finetune_per_seed"]) / 2)
    assert again["results"]["supervised"] == dict(results["supervised"], earlier=True)
    assert "supervised (earlier run)" in out.with_suffix(".md").read_text()
    assert (out / "semppl_encoder.keras").read_bytes() == encoder_bytes
    proc = _run(["--archive", str(archive), "--out", str(out), "--reuse-encoders"]
                + TINY[:-2] + ["--precision", "bf16"], tmp_path)
    assert proc.returncode != 0 and "was trained with --precision fp32" in proc.stderr

    other = generate_cifar_like(tmp_path / "other", CLASSES, 6, seed=1)
    proc = _run(["--score", str(other), "--out", str(out), "--score-labels-per-class", "2"],
                tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "60 images; k-NN and probe fitted on 20, scored on 40" in proc.stdout
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| s") or
            line.startswith("| n")]
    assert len(rows) == 3, proc.stdout
    wrong = generate_cifar_like(tmp_path / "wrong", ("cat", "dog"), 2)
    proc = _run(["--score", str(wrong), "--out", str(out)], tmp_path)
    assert proc.returncode != 0 and "must hold one folder per CIFAR-10 class" in proc.stderr


@pytest.mark.backend_free
def test_score_rejects_a_folder_without_cifar_classes(tmp_path):
    folder = generate_cifar_like(tmp_path / "wrong", ("cat", "dog"), 2)
    proc = _run(["--score", str(folder), "--out", str(tmp_path / "missing")], tmp_path)
    assert proc.returncode != 0 and "--out: saved models not found" in proc.stderr
    proc = _run(["--labels-per-class", "4"], tmp_path)
    assert proc.returncode != 0 and "--archive" in proc.stderr


@pytest.mark.backend_free
def test_default_queue_size():
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    try:
        from cifar10_quality import default_queue_size, public_arguments
    finally:
        sys.path.pop(0)
    assert default_queue_size(500, 64, 256) == 512
    assert default_queue_size(4000, 64, 256) == 2560
    assert default_queue_size(40, 8, 32) == 40
    assert default_queue_size(10, 8, 32) == 32
    assert public_arguments(["--archive", "a.tgz", "--epochs", "2", "--archive=b"]) == [
        "--epochs", "2"]


def _script():
    return benchmark_module("cifar10_quality")


@pytest.mark.backend_free
def test_methods_option_parses_a_subset_and_names_unknown_methods(capsys):
    script = _script()
    parse = script.parse_args
    assert parse(["--archive", "a.tgz"]).methods == script.METHODS
    assert parse(["--archive", "a.tgz", "--methods", "supervised, semppl"]).methods == (
        "semppl", "supervised")
    assert parse(["--archive", "a.tgz", "--methods", "semppl"]).methods == ("semppl",)
    for bad, said in (("semppl,byol,sup", "unknown method(s) byol, sup"), (",", "at least one")):
        with pytest.raises(SystemExit) as e:
            parse(["--archive", "a.tgz", "--methods", bad])
        err = capsys.readouterr().err
        assert e.value.code == 2 and "--methods" in err and said in err, err
        assert "no_semantic_positives" in err  # the choices are named


@pytest.mark.backend_free
def test_report_with_a_subset_of_methods(tmp_path):
    script = _script()
    meta = {"backend": "tensorflow", "precision": "bf16", "train_images": 180, "labelled": 40,
            "validation": 20, "encoder": "small_convnet(4, 8, 8)", "epochs": 2, "steps": 10,
            "batch_size": 32, "labelled_per_batch": 8, "queue_size": 40, "seed": 0,
            "semppl_defaults": {"semantic_trust": "estimated"}, "total_seconds": 60.0,
            "load_average": (1.0, 1.0, 1.0), "command": "python benchmarks/cifar10_quality.py"}
    scores = {"knn": 0.3, "linear": 0.4, "finetune": 0.5, "finetune_recipe": "lpft",
              "finetune_lpft": 0.5, "finetune_random_head": 0.2, "train_seconds": 9.0}
    history = {"pseudo_label_accuracy": [0.1, 0.2], "semantic_positive_precision": [0.1, 0.2],
               "probe_accuracy": [0.15, 0.25], "semantic_trust": [0.05, 0.125]}
    script.write_report(tmp_path / "semppl_only", meta,
                        {"semppl": dict(scores, history=history)})
    text = (tmp_path / "semppl_only.md").read_text()
    assert "| semppl | 0.300 |" in text and "| supervised" not in text
    assert "semantic_trust='estimated'" in text and "0.050, 0.125" in text
    assert "without semantic positives" not in text
    script.write_report(tmp_path / "kept", meta, {
        "semppl": dict(scores, history=history, earlier=True, command="train it",
                       protocols_command="score it"),
        "supervised": dict(scores, recipe={"learning_rate": 5e-3, "weight_decay": 1e-4,
                                           "passes": 200.0, "augment": "crop_flip"},
                           finetune_per_seed=[0.4, 0.5, 0.6], finetune_std=0.1)})
    text = (tmp_path / "kept.md").read_text()
    assert "| semppl (earlier run) | 0.300 |" in text
    assert "semppl (earlier run): `train it`; its protocols: `score it`" in text
    assert "**0.500** +- 0.100 (lpft)" in text and "3 fine-tuning seed(s)" in text
    assert ("Supervised recipe: learning rate 0.005, weight decay 0.0001, 200 passes, "
            "augmentation crop_flip.") in text
    script.write_report(tmp_path / "no_semppl", meta, {
        "supervised": dict(scores),
        "no_semantic_positives": dict(scores, history={"probe_accuracy": [0.5, 0.75]})})
    text = (tmp_path / "no_semppl.md").read_text()
    assert [line.split(" |")[0] for line in text.splitlines() if line.startswith("| ")
            and "---" not in line][1:] == ["| no_semantic_positives", "| supervised"]
    assert "online probe accuracy without semantic positives: 0.500, 0.750" in text
    assert "pseudo-label accuracy" not in text


@pytest.mark.backend_free
def test_make_cifar10_archive_writes_the_layout_the_benchmark_reads(tmp_path):
    import io

    import numpy as np
    from PIL import Image

    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    try:
        from make_cifar10_archive import write_archive
    finally:
        sys.path.pop(0)
    labels = np.repeat(np.arange(10), 3)[::-1]  # 3 per class, in another order
    colours = np.arange(30, dtype=np.uint8)[:, None] * 8
    images = np.broadcast_to(colours[:, None, None, :], (30, 32, 32, 3)).astype(np.uint8)
    archive = tmp_path / "cifar10-train.tar.gz"
    counts = write_archive(images, labels[:, None], archive)
    assert counts == dict.fromkeys(CLASSES, 3)
    with tarfile.open(archive, "r:gz") as tar:
        names = sorted(m.name for m in tar.getmembers())
        assert names == sorted(f"train/{c}/{i:04d}.jpg" for c in CLASSES for i in range(3))
        # The first image of class 9 (truck) is image 0: a flat grey of value 0.
        pixels = np.asarray(Image.open(io.BytesIO(
            tar.extractfile("train/truck/0000.jpg").read())))
    assert pixels.shape == (32, 32, 3) and np.abs(pixels.astype(int) - 0).max() <= 2
    # The streaming reader of the tests' CIFAR slice takes it: every class full.
    from tests.cifar_slice import _extract

    _extract(archive, tmp_path / "out", CLASSES, 3)
    assert len(list((tmp_path / "out").glob("*/*.jpg"))) == 30


@pytest.mark.backend_free
def test_finetuning_summary_averages_seeds_and_chooses_on_the_selection_images():
    summarise = _script().summarise_finetuning
    runs = {"lpft": [(0.50, 0.40), (0.54, 0.44), (0.52, 0.48)],
            "random_head": [(0.60, 0.30), (0.40, 0.34), (0.50, 0.29)]}
    out = summarise(runs)
    # Mean selection: lpft 0.52, random head 0.50 -> LP-FT, although one
    # random-head seed scored higher on the selection images.
    assert out["finetune_recipe"] == "lpft"
    assert out["finetune"] == pytest.approx(0.44)
    assert out["finetune_std"] == pytest.approx(0.04)  # sample std of 0.40, 0.44, 0.48
    assert out["finetune_per_seed"] == [0.40, 0.44, 0.48]
    assert out["finetune_random_head"] == pytest.approx(0.31)
    assert out["finetune_selection"] == pytest.approx({"lpft": 0.52, "random_head": 0.50})
    tie = summarise({"lpft": [(0.5, 0.1)], "random_head": [(0.5, 0.9)]})
    assert tie["finetune_recipe"] == "lpft" and tie["finetune_std"] == 0.0
    assert _script().finetune_seeds(2, 3) == [2, 1002, 2002]


@pytest.mark.backend_free
def test_a_run_of_some_methods_keeps_the_other_rows_of_the_same_run(tmp_path, capsys):
    keep = _script().keep_earlier_rows
    meta = {"seed": 0, "epochs": 7, "steps": 1617, "precision": "bf16", "command": "first"}
    out = tmp_path / "run"
    assert keep(out, meta, {"semppl": {"knn": 0.3}}) == {"semppl": {"knn": 0.3}}  # no file
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "results": {
        "semppl": {"knn": 0.1}, "supervised": {"knn": 0.2, "command": "sup"},
        "no_semantic_positives": {"knn": 0.25}}}))
    merged = keep(out, dict(meta, command="second"), {"semppl": {"knn": 0.3}})
    assert merged == {"semppl": {"knn": 0.3},  # the new row wins
                      "supervised": {"knn": 0.2, "command": "sup", "earlier": True},
                      "no_semantic_positives": {"knn": 0.25, "command": "first",
                                                "earlier": True}}
    assert keep(out, dict(meta, epochs=3), {"semppl": {"knn": 0.3}}) == {"semppl": {"knn": 0.3}}
    said = capsys.readouterr().out
    assert "not keeping the earlier rows of no_semantic_positives, supervised" in said
    assert "epochs=7" in said and "this one 3" in said


@pytest.mark.backend_free  # tf.data ops only
def test_crop_flip_view_is_a_padded_crop_possibly_flipped():
    import numpy as np

    view = _script().crop_flip_view(pad=2, seed=3)
    image = np.random.default_rng(0).random((6, 5, 3)).astype("float32")
    padded = np.pad(image, ((2, 2), (2, 2), (0, 0)))
    crops = [padded[dy:dy + 6, dx:dx + 5] for dy in range(5) for dx in range(5)]
    candidates = [c for crop in crops for c in (crop, crop[:, ::-1])]  # left-right flips
    seen = set()
    for _ in range(30):
        large, small = view(image, 0)
        out = np.asarray(large[0])
        assert out.shape == image.shape and small == []
        matches = [i for i, c in enumerate(candidates) if np.array_equal(out, c)]
        assert matches, "not a crop of the zero-padded image"
        seen.add(matches[0])
    assert len(seen) > 5  # random offsets and flips, not one fixed crop


@pytest.mark.backend_free
def test_supervised_flags_are_checked(capsys):
    parse = _script().parse_args
    for flags, said in ((["--supervised-lr", "0"], "--supervised-lr must be positive"),
                        (["--supervised-passes", "-1"], "--supervised-passes must be positive"),
                        (["--supervised-weight-decay", "-1"], "--supervised-weight-decay must"),
                        (["--supervised-augment", "mixup"], "--supervised-augment"),
                        (["--finetune-seeds", "0"], "--finetune-seeds must be positive"),
                        (["--folds", "1"], "--folds must be at least 2")):
        with pytest.raises(SystemExit):
            parse(["--archive", "a.tgz"] + flags)
        assert said in capsys.readouterr().err
    args = parse(["--archive", "a.tgz"])
    assert _script().supervised_recipe(args) == {"learning_rate": 2e-3, "weight_decay": 1e-4,
                                                 "passes": None, "augment": "byol"}


@pytest.mark.backend_free  # the training is a stand-in; only the folding is tested
def test_tune_supervised_folds_only_labelled_images_and_picks_the_best_cv_score(
        tmp_path, monkeypatch):
    import numpy as np

    script = _script()
    train = generate_cifar_like(tmp_path / "src" / "train", CLASSES, 10)
    archive = tmp_path / "train.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(train, arcname="train")
    seen = []

    class Oracle:  # right on the held fold only for the recipe the test calls best
        def __init__(self, good, truth):
            self.good, self.truth = good, truth

        def predict(self, x, **kwargs):
            labels = [self.truth[img.tobytes()] for img in x]
            if not self.good:
                labels = [(label + 1) % 10 for label in labels]
            return np.eye(10)[labels]

    def fake_train(args, recipe, images, labels, view_fn, widths, default_steps):
        seen.append((recipe, images, labels))
        truth = truths[0]
        good = recipe["learning_rate"] == 5e-3 and recipe["augment"] == "crop_flip" and \
            recipe["passes"] == 50.0
        return Oracle(good, truth)

    truths = []
    real_load = script.load_split

    def load(args):
        data, images, labels, true = real_load(args)
        truths.append({img.tobytes(): int(t) for img, t in zip(images, true)})
        return data, images, labels, true

    monkeypatch.setattr(script, "train_supervised", fake_train)
    monkeypatch.setattr(script, "load_split", load)
    out = tmp_path / "recipe"
    args = script.parse_args(["--archive", str(archive), "--tune-supervised", "--seed", "10",
                              "--labels-per-class", "4", "--folds", "2", "--out", str(out),
                              "--precision", "fp32"])
    args.argv = []
    import keras

    policy = keras.mixed_precision.global_policy().name
    try:
        assert script.tune_supervised(args) == 0
    finally:  # the script sets the process-wide policy
        keras.mixed_precision.set_global_policy(policy)
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["chosen"] == {"learning_rate": 5e-3, "weight_decay": 1e-4, "passes": 50.0,
                                "augment": "crop_flip"}
    assert "--supervised-lr 0.005 --supervised-weight-decay 0.0001 --supervised-passes 50 " \
           "--supervised-augment crop_flip" == record["flags"]
    assert len(record["rows"]) == 12 and len(seen) == 24  # 12 recipes x 2 folds
    for _, images, labels in seen:
        assert len(images) == 40  # the labelled images only: 4 per class
        assert (labels >= 0).sum() == 20  # half of them per fold; the held half hidden
    assert "**(chosen)**" in out.with_suffix(".md").read_text()

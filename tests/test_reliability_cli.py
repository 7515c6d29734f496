"""`semppl` under failure: one-line errors before any work, divergence exits
non-zero and keeps --output, checkpoints resume, damaged files named as such."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from keras_semppl.cli.main import main

TINY = ["--epochs", "1", "--batch-size", "32", "--labelled-per-batch", "8",
        "--image-size", "8", "--queue-size", "64", "--hidden-dim", "16",
        "--projection-dim", "8", "--verbose", "0", "--no-baseline", "--no-classical"]


def _one_line_exit(argv, *fragments):
    with pytest.raises(SystemExit) as caught:
        main(argv)
    message = str(caught.value.code)
    assert "\n" not in message and "Traceback" not in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


@pytest.mark.backend_free
@pytest.mark.parametrize("argv, fragments", [
    (["--queue-size", "16", "--batch-size", "32"], ("--queue-size", "at least --batch-size=32")),
    (["--queue-size", "64", "--batch-size", "32", "--knn-k", "65"],
     ("--knn-k", "[1, --queue-size=64]")),
    (["--checkpoint-every-steps", "0", "--checkpoint-dir", "x"], ("--checkpoint-every-steps",)),
    (["--checkpoint-every-steps", "2"], ("needs --checkpoint-dir",)),
    (["--skip-corrupt"], ("--skip-corrupt", "folder:PATH")),
])
def test_flag_conflicts_are_one_line_errors(argv, fragments):
    _one_line_exit(["train"] + argv, *fragments)


@pytest.mark.backend_free
def test_output_under_a_file_fails_before_training(tmp_path):
    (tmp_path / "blocker").write_text("a file, not a folder")
    _one_line_exit(["train", "--output", str(tmp_path / "blocker" / "m.keras")] + TINY,
                   "--output", "is a file, not a folder")


@pytest.mark.backend_free
def test_one_class_folder_is_a_one_line_error(tmp_path):
    folder = tmp_path / "data" / "only"
    folder.mkdir(parents=True)
    for i in range(6):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(folder / f"{i}.png")
    _one_line_exit(["train", "--dataset", f"folder:{tmp_path / 'data'}",
                    "--output", str(tmp_path / "m.keras")] + TINY, "needs at least 2")


@pytest.mark.backend_free
def test_evaluate_and_plot_name_missing_and_truncated_files(tmp_path):
    missing = str(tmp_path / "missing.keras")
    _one_line_exit(["evaluate", missing], "does not exist")
    truncated = tmp_path / "cut.keras"
    truncated.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    _one_line_exit(["evaluate", str(truncated)], "not a complete .keras file", "truncated")
    _one_line_exit(["plot", str(tmp_path / "none.json"), "--out", str(tmp_path)],
                   "does not exist")
    (tmp_path / "bad.json").write_text("{not json")
    _one_line_exit(["plot", str(tmp_path / "bad.json"), "--out", str(tmp_path)],
                   "not a JSON history")
    (tmp_path / "h.json").write_text(json.dumps({"loss": [1.0, 0.5]}))
    _one_line_exit(["plot", str(tmp_path / "h.json"), "--out", str(tmp_path),
                    "--model", str(truncated)], "--model", "not a complete .keras file")


@pytest.mark.integration
def test_divergence_exits_non_zero_and_keeps_the_previous_output(tmp_path):
    out = tmp_path / "m.keras"
    out.write_bytes(b"the previous good model")
    message = _one_line_exit(
        ["train", "--output", str(out), "--learning-rate", "1e6", "--epochs", "3",
         "--steps-per-epoch", "4"] + TINY[2:], "diverged", "Nothing was saved")
    assert "optimizer step" in message
    assert out.read_bytes() == b"the previous good model"


@pytest.mark.integration
@pytest.mark.slow
def test_checkpoint_dir_saves_keeps_and_resumes(tmp_path, capsys):
    ckpt = tmp_path / "ckpt"
    argv = ["train", "--output", str(tmp_path / "m.keras"), "--checkpoint-dir", str(ckpt),
            "--keep", "2", "--steps-per-epoch", "2", "--epochs", "3"] + TINY[2:]
    assert main(argv) == 0
    assert sorted(os.listdir(ckpt)) == ["ckpt-00000004.keras", "ckpt-00000006.keras", "run.json"]
    capsys.readouterr()
    # The same command again: resumes at step 6 of 6, trains nothing more.
    assert main(argv) == 0
    assert "resuming from" in capsys.readouterr().out
    # Other training flags on the same folder: refused, naming what changed.
    _one_line_exit(argv + ["--seed", "5"], "--checkpoint-dir", "seed: 0 there, 5 now")


@pytest.mark.backend_free
def test_skip_corrupt_reaches_the_image_folder_loader(tmp_path):
    from keras_semppl.cli.main import build_parser
    from keras_semppl.cli.train_run import load_data
    from keras_semppl.cli.train import resolve_plan

    root = tmp_path / "data"
    for c, name in enumerate(("a", "b")):
        (root / name).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(np.full((8, 8, 3), 30 * c + 5 * i, np.uint8)).save(
                root / name / f"{i}.png")
    (root / "a" / "broken.png").write_bytes(b"not an image")
    argv = ["train", "--dataset", f"folder:{root}", "--output", str(tmp_path / "m.keras"),
            "--labels-per-class", "2", "--val-fraction", "0.2"] + TINY
    message = str(pytest.raises(SystemExit, load_data,
                                resolve_plan(build_parser().parse_args(argv))).value.code)
    assert "broken.png" in message and "--skip-corrupt" in message and "\n" not in message
    data = load_data(resolve_plan(build_parser().parse_args(argv + ["--skip-corrupt"])))
    assert len(data.skipped) == 1 and data.skipped[0].endswith("broken.png")


@pytest.mark.backend_free
@pytest.mark.integration
def test_checkpoint_dir_full_disk_other_backend_and_damaged_record_are_one_line(
        tmp_path, monkeypatch):
    import errno

    import keras_semppl.callbacks.checkpoint as checkpoint

    def full(model, path):
        raise OSError(errno.ENOSPC, "No space left on device", path)

    monkeypatch.setattr(checkpoint, "save_model", full)
    ckpt = tmp_path / "ckpt"
    argv = ["train", "--output", str(tmp_path / "m.keras"), "--checkpoint-dir", str(ckpt),
            "--steps-per-epoch", "1"] + TINY
    _one_line_exit(argv, str(ckpt), "No space left", "needs about")
    assert not (tmp_path / "m.keras").exists()
    record = json.loads((ckpt / "run.json").read_text())
    # The same flags under another backend: refused before training.
    other = "torch" if record["backend"] == "jax" else "jax"
    (ckpt / "run.json").write_text(json.dumps(dict(record, backend=other)))
    _one_line_exit(argv, "--checkpoint-dir", f"written under the {other} backend",
                   "not bit-exact")
    # A truncated record: named, not a JSONDecodeError traceback.
    (ckpt / "run.json").write_text(json.dumps(record)[:20])
    _one_line_exit(argv, str(ckpt / "run.json"), "not valid JSON")


def _tiny_encoder_file(path):
    from keras_semppl.encoders.small_convnet import small_convnet

    small_convnet((8, 8, 3), widths=(4, 8)).save(path)
    return str(path)


@pytest.mark.backend_free
def test_evaluate_names_a_missing_folder_and_an_unknown_data_set(tmp_path):
    model = _tiny_encoder_file(tmp_path / "enc.keras")
    _one_line_exit(["evaluate", model, "--dataset", f"folder:{tmp_path / 'nonexistent'}"],
                   "semppl evaluate: --dataset", "nonexistent")
    _one_line_exit(["evaluate", model, "--dataset", "no_such_tfds_name_xyz"],
                   "semppl evaluate: --dataset", "no_such_tfds_name_xyz")


@pytest.mark.backend_free
def test_plot_of_a_csv_with_a_header_and_no_rows_is_one_line(tmp_path):
    (tmp_path / "log.csv").write_text("epoch,loss\n")
    _one_line_exit(["plot", str(tmp_path / "log.csv"), "--out", str(tmp_path / "out")],
                   "semppl plot", str(tmp_path / "log.csv"), "no epochs")


@pytest.mark.backend_free
def test_evaluate_names_a_keras_file_with_a_broken_config(tmp_path):
    import zipfile

    good = _tiny_encoder_file(tmp_path / "enc.keras")
    broken = tmp_path / "broken.keras"
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(broken, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "config.json":
                data = data[:len(data) // 2]
            target.writestr(item, data)
    _one_line_exit(["evaluate", str(broken)], str(broken), "not a complete .keras file",
                   "config.json")

"""torch data parallel: a torchrun job of 2 gloo processes against one process.

One `torchrun --nproc-per-node 2` job runs this file as its worker, in three
phases on both processes:

1. `fit` inside `resolve_distribution("data_parallel").scope()`: the tiny
   SemPPL model on toy data (a tf.data pipeline of global batches of 32,
   2 epochs of 2 SGD-with-momentum steps, an `AtomicCheckpoint` at each
   epoch end), every BatchNorm synchronised (the heads' by default, the
   encoder's by ``synchronized=True``, TensorFlow's rule). Meanwhile this
   test trains the same model in one process (no distribution) on the same
   global batches. Weights, BatchNorm statistics, queue, target and
   optimizer state must match: labels, ids, pointers, seeds and step
   counters exactly, floats within rtol 1e-4 / atol 1e-5 (measured max
   absolute difference 1.5e-6, in the queue embeddings). Both processes
   must hold identical variables.
2. `semppl train` (digits, tiny settings, one epoch of 2 steps): process 0
   writes the model, history, plots and report; process 1 into its
   temporary folder, and the two saved models are identical.
3. A `fit` on NumPy arrays (sharded by `fit`) in which process 1 SIGKILLs
   itself after one step: the job must fail, torchrun naming the killed
   process, within 30 s of the kill (measured: 0.8-1.3 s).

Only process 0 writes: phase 1's state and checkpoints, phase 2's files.
Run the job directly:
``torchrun --nproc-per-node 2 tests/test_distributed_torch_processes.py OUT``.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RTOL, ATOL = 1e-4, 1e-5
GLOBAL_BATCH, EPOCHS, STEPS = 32, 2, 2
CLI_ARGS = ["train", "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "32",
            "--labelled-per-batch", "8", "--image-size", "8", "--queue-size", "64",
            "--hidden-dim", "16", "--projection-dim", "8", "--no-baseline", "--no-classical",
            "--verbose", "0", "--precision", "fp32"]
TORCH_ONLY = pytest.mark.backend(
    "torch", reason="torch.distributed data parallel (the torch trainer is only imported there)")


def _global_batches():
    import tensorflow as tf

    from tests.toy_data import toy_batch_dict

    return tf.data.Dataset.from_tensor_slices(toy_batch_dict(n=64)).batch(
        GLOBAL_BATCH, drop_remainder=True)


def _build():
    import keras

    from tests.toy_data import tiny_model

    keras.utils.set_random_seed(0)
    model = tiny_model(target_decay_steps=20)
    for layer in model.encoder.layers + model.target_encoder.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.synchronized = True  # the heads' are, by sync_batch_norm=True
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    return model


def _state(model):
    """[(name without Keras' numbering, value)] of the model's and optimizer's variables."""
    import keras

    pairs = [(v.path, v) for v in model.variables]
    pairs += [("optimizer/" + v.path, v) for v in model.optimizer.variables]
    return [(re.sub(r"_\d+(?=/|$)", "", path), np.asarray(keras.ops.convert_to_numpy(v.value)))
            for path, v in pairs]


def _saved_arrays(path):
    """{dataset path: array} of a .keras file's weights (model and optimizer)."""
    import io
    import zipfile

    import h5py

    with zipfile.ZipFile(path) as archive:
        data = io.BytesIO(archive.read("model.weights.h5"))
    arrays = {}
    with h5py.File(data, "r") as f:
        f.visititems(lambda name, item: arrays.__setitem__(name, item[()])
                     if isinstance(item, h5py.Dataset) else None)
    return arrays


@TORCH_ONLY
@pytest.mark.integration
@pytest.mark.slow
def test_two_processes_equal_one_and_a_killed_process_fails_the_job(tmp_path):
    from keras_semppl.distribute.launch import free_port

    start = time.monotonic()
    env = dict(os.environ, KERAS_BACKEND="torch", PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2",
               OMP_NUM_THREADS="1")
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "LOCAL_RANK"):
        env.pop(name, None)
    # Process 1's scratch folders (it is killed: no clean-up at exit) land here.
    env["TMPDIR"] = str(tmp_path / "tmp")
    (tmp_path / "tmp").mkdir()
    log = open(tmp_path / "job.log", "w")
    job = subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
         "--master-addr", "127.0.0.1", "--master-port", str(free_port()),
         os.path.abspath(__file__), str(tmp_path)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        # The one-process reference, while the job runs.
        model = _build()
        model.fit(_global_batches(), epochs=EPOCHS, verbose=0)
        reference = _state(model)
        # And `semppl train` in one process, the same flags.
        from keras_semppl.cli.main import main

        main(CLI_ARGS + ["--output", str(tmp_path / "one" / "model.keras"),
                         "--distribute", "none"])
        code = job.wait(timeout=150)
        ended = time.time()
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait()
        log.close()
    text = (tmp_path / "job.log").read_text()
    seconds = time.monotonic() - start

    # Phase 3: the killed process failed the job, and torchrun says which.
    assert code != 0, text[-4000:]
    killed = re.search(r"PHASE3 rank=1 killing itself at ([0-9.]+)", text)
    assert killed, text[-4000:]
    failed_after = ended - float(killed.group(1))
    assert failed_after < 30, failed_after
    # Process 0 either raised the error naming the cause, or torchrun stopped it first.
    assert ("another process of the job has probably stopped" in text
            or re.search(r"local_rank: 0\)\s*\n\s*exitcode\s*:\s*-15", text)), text[-4000:]
    assert re.search(r"rank\s*:\s*1 \(local_rank: 1\)\s*\n\s*exitcode\s*:\s*-9", text), \
        text[-4000:]
    assert "PHASE3 rank=0 finished" not in text, text[-4000:]

    # Phases 1-2: only process 0 wrote.
    assert sorted(os.listdir(tmp_path / "ckpt")) == ["ckpt-00000002.keras",
                                                     "ckpt-00000004.keras"]
    assert sorted(os.listdir(tmp_path / "cli")) == ["model.history.json", "model.keras",
                                                    "plots", "report.json"]
    assert "process 1 writes into" in text and "process 0 writes into" not in text
    assert text.count("torch.distributed data parallel over 2 processes (gloo") >= 2
    assert json.loads((tmp_path / "cli" / "report.json").read_text())["backend"] == "torch"
    scratch = {key: line[len(prefix):].split(" ")[0] for line in text.splitlines()
               for key, prefix in (("state", "PHASE1 rank=1 wrote "),
                                   ("cli", "process 1 writes into "))
               if line.startswith(prefix)}
    assert sorted(scratch) == ["cli", "state"], text[-4000:]
    for folder in scratch.values():
        assert folder.startswith(str(tmp_path / "tmp")), folder

    # Both processes hold the same variables (phase 1 and semppl train).
    job_state = np.load(tmp_path / "state.npz")
    other = np.load(os.path.join(scratch["state"], "state.npz"))
    for key in job_state:
        np.testing.assert_array_equal(other[key], job_state[key], err_msg=key)
    cli = [_saved_arrays(os.path.join(folder, "model.keras"))
           for folder in (tmp_path / "cli", scratch["cli"])]
    assert sorted(cli[0]) == sorted(cli[1]) and len(cli[0]) > 50
    for name in cli[0]:
        np.testing.assert_array_equal(cli[1][name], cli[0][name], err_msg=name)
    # ... equal to one process: every BatchNorm, the encoder's too, over the
    # global batch (`SynchronizedBatchNorm`), as on TensorFlow workers. The
    # tolerance of the TensorFlow workers' CLI test: AdamW turns float32
    # summation-order noise in near-zero gradients into steps of the learning rate.
    one = _saved_arrays(str(tmp_path / "one" / "model.keras"))
    assert sorted(one) == sorted(cli[0])
    cli_worst = 0.0
    for name in one:
        np.testing.assert_allclose(cli[0][name], one[name], rtol=1e-3, atol=1e-3, err_msg=name)
        if one[name].dtype.kind == "f":
            cli_worst = max(cli_worst, float(np.max(np.abs(cli[0][name] - one[name]),
                                                    initial=0.0)))

    # Phase 1 against the one-process reference.
    names = [name for name, _ in reference]
    assert names == list(json.loads((tmp_path / "names.json").read_text()))
    worst = {}
    for i, (name, expected) in enumerate(reference):
        got = job_state[f"v{i}"]
        if expected.dtype.kind in "iub":  # queue labels/ids/pointer, seeds, counters
            np.testing.assert_array_equal(got, expected, err_msg=name)
        else:
            np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL, err_msg=name)
            worst[name] = float(np.max(np.abs(got - expected), initial=0.0))
    queue_labels = dict(reference)["queue/labels"]
    assert (queue_labels >= 0).sum() > GLOBAL_BATCH // 3  # labelled rows of several steps
    assert seconds < 150
    print(json.dumps({"max_abs_diff": max(worst.values()), "cli_max_abs_diff": cli_worst,
                      "queue_embeddings_max_abs_diff": worst["queue/embeddings"],
                      "job_failed_after_kill_s": round(failed_after, 1),
                      "seconds": round(seconds, 1)}))


# --------------------------------------------------------------- the worker
def _worker(out):
    import keras

    from keras_semppl.callbacks.checkpoint import AtomicCheckpoint
    from keras_semppl.cli.main import main
    from keras_semppl.distribute import processes
    from keras_semppl.distribute import resolve_distribution

    plan = resolve_distribution("data_parallel")
    print(f"{plan.description}, imports done at {time.monotonic() - START:.1f} s", flush=True)
    rank = processes.process_index()
    assert plan.num_replicas == 2 and processes.process_count() == 2

    # Phase 1: the data-parallel fit; process 0 writes its state.
    with plan.scope():
        model = _build()
        model.fit(_global_batches(), epochs=EPOCHS, verbose=0,
                  callbacks=[AtomicCheckpoint(os.path.join(out, "ckpt"))])
    state = _state(model)
    folder = out if processes.is_chief() else processes.scratch_folder("state")
    np.savez(os.path.join(folder, "state.npz"), **{f"v{i}": v for i, (_, v) in enumerate(state)})
    with open(os.path.join(folder, "names.json"), "w") as f:
        json.dump([name for name, _ in state], f)
    print(f"PHASE1 rank={rank} wrote {folder} at {time.monotonic() - START:.1f} s", flush=True)

    # Phase 2: semppl train.
    main(CLI_ARGS + ["--output", os.path.join(out, "cli", "model.keras"),
                     "--plots", os.path.join(out, "cli", "plots"),
                     "--report-json", os.path.join(out, "cli", "report.json")])
    print(f"PHASE2 rank={rank} done at {time.monotonic() - START:.1f} s", flush=True)

    # Phase 3: process 1 dies after one step; process 0 must not go on.
    class KillAfterOneStep(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if rank == 1:
                print(f"PHASE3 rank=1 killing itself at {time.time()}", flush=True)
                os.kill(os.getpid(), signal.SIGKILL)

    from tests.toy_data import toy_batch_dict

    with plan.scope():  # NumPy arrays this time: fit shards them per process
        model.fit(toy_batch_dict(n=640), batch_size=GLOBAL_BATCH, shuffle=False, verbose=0,
                  callbacks=[KillAfterOneStep()])
    print(f"PHASE3 rank={rank} finished", flush=True)


START = time.monotonic()


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    _worker(sys.argv[1])

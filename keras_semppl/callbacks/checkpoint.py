"""Atomic checkpoints, and `fit` that resumes exactly from the latest one.

`AtomicCheckpoint` replaces `keras.callbacks.ModelCheckpoint` for long,
preemptible runs: every save goes to a temporary file that is renamed into
place (`keras_semppl.io.atomic`), so a kill mid-save leaves the previous
checkpoint intact; the last ``keep`` are kept.

`fit_resumable` makes a resumed run see exactly what the uninterrupted run
would have seen. A SemPPL `.keras` file holds the weights, the queue, the
target, the optimizer (with its step counter) and the random-seed states;
the data order is made a pure function of (epoch, step) by asking the caller
for each epoch's dataset anew (`epoch_dataset(epoch)`, e.g. shuffled with a
seed derived from the run's seed and the epoch) and skipping the batches the
interrupted epoch had already trained on.

No checkpoint holds a NaN or inf: the train step checks everything a
checkpoint saves (`keras_semppl.callbacks.guards`), and `AtomicCheckpoint`
checks again on the host before it writes.
"""

import errno
import glob
import json
import os
import re
import shutil
import warnings
import zipfile

import keras

from keras_semppl.callbacks.guards import DivergenceError
from keras_semppl.callbacks.guards import nonfinite_variables
from keras_semppl.callbacks.run_record import check_backend
from keras_semppl.distribute.processes import is_chief
from keras_semppl.distribute.processes import scratch_folder
from keras_semppl.io.atomic import check_keras_file
from keras_semppl.io.atomic import save_model


class CheckpointError(RuntimeError):
    """A checkpoint could not be written (e.g. the disk is full)."""


_NAME = "ckpt-{step:08d}.keras"
_PATTERN = re.compile(r"^ckpt-(\d{8})\.keras$")


def _step(model):
    return int(keras.ops.convert_to_numpy(model.optimizer.iterations))


def list_checkpoints(directory):
    """[(step, path)] of the complete-looking checkpoints in ``directory``, oldest first."""
    found = []
    for path in glob.glob(os.path.join(directory, "ckpt-*.keras")):
        match = _PATTERN.match(os.path.basename(path))
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def _is_training_checkpoint(path):
    """True if the (complete) ``.keras`` file holds a compiled optimizer to resume."""
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
    compiled = config.get("compile_config") if isinstance(config, dict) else None
    return isinstance(compiled, dict) and compiled.get("optimizer") is not None


def latest_checkpoint(directory):
    """The path of the newest readable checkpoint in ``directory``, or None.

    A damaged file (not a complete zip) and a model saved without its
    optimizer (not a checkpoint: there is nothing to resume) are skipped
    with a warning; with atomic saves that only happens to files copied or
    edited by hand.
    """
    for _, path in reversed(list_checkpoints(directory)):
        try:
            check_keras_file(path, "checkpoint")
        except ValueError as error:
            warnings.warn(f"{error} Skipped.", stacklevel=2)
            continue
        if not _is_training_checkpoint(path):
            warnings.warn(f"checkpoint {path!r} is not a training checkpoint (a model saved "
                          "without a compiled optimizer); skipped.", stacklevel=2)
            continue
        return path
    return None


def _megabytes(size):
    return f"{size / 2 ** 20:.1f} MB"


def _no_space_message(directory, model):
    """One line: the folder, the space a checkpoint needs and what is free."""
    existing = [os.path.getsize(p) for _, p in list_checkpoints(directory)]
    if existing:
        needed = max(existing)
    else:  # the variables' bytes: a .keras file is about that size
        variables = list(model.variables) + list(getattr(model.optimizer, "variables", []))
        needed = sum(keras.ops.convert_to_numpy(v).nbytes for v in variables)
    try:
        free = f"{_megabytes(shutil.disk_usage(directory).free)} is free"
    except OSError:
        free = "the free space is unknown"
    return (f"No space left on device for a checkpoint in {directory!r}: one needs about "
            f"{_megabytes(needed)} and {free}. Free some space there (older checkpoints "
            "are removed only after a new one is written) and rerun to resume.")


class AtomicCheckpoint(keras.callbacks.Callback):
    """Saves the whole model atomically to ``directory/ckpt-<step>.keras``.

    Args:
        directory: folder of the checkpoints (created if needed).
        every_steps: also save every this many optimizer steps (None: only
            at epoch ends).
        keep: how many of the newest checkpoints to keep (None: all).
    """

    def __init__(self, directory, every_steps=None, keep=3):
        super().__init__()
        if every_steps is not None and (not isinstance(every_steps, int) or every_steps < 1):
            raise ValueError(f"every_steps must be a positive int or None; got {every_steps!r}.")
        if keep is not None and (not isinstance(keep, int) or keep < 1):
            raise ValueError(f"keep must be a positive int or None; got {keep!r}.")
        self.directory = os.fspath(directory)
        self.every_steps = every_steps
        self.keep = keep
        self._last_saved = None

    def _save(self):
        model = self.model  # on JAX, reading .model syncs the training state
        step = _step(model)
        if step == self._last_saved:
            return
        bad = nonfinite_variables(model)
        if bad:
            shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
            raise DivergenceError(
                f"Not writing the checkpoint of optimizer step {step}: {len(bad)} variable(s) "
                f"hold NaN or inf ({shown}).", step=step, what=f"the variable(s) {shown}")
        # Several processes: saving is a collective step, so all save; the
        # first into `directory`, the others into a scratch folder.
        directory = self.directory if is_chief() else scratch_folder("checkpoints")
        os.makedirs(directory, exist_ok=True)
        try:
            save_model(model, os.path.join(directory, _NAME.format(step=step)))
        except OSError as error:
            if error.errno != errno.ENOSPC:
                raise
            raise CheckpointError(_no_space_message(directory, model)) from None
        self._last_saved = step
        if self.keep is not None:
            for _, path in list_checkpoints(directory)[:-self.keep]:
                os.remove(path)

    def on_train_batch_end(self, batch, logs=None):
        if self.every_steps and _step(self.model) % self.every_steps == 0:
            self._save()

    def on_epoch_end(self, epoch, logs=None):
        self._save()


def fit_resumable(build_model, epoch_dataset, epochs, steps_per_epoch, checkpoint_dir,
                  every_steps=None, keep=3, callbacks=(), verbose="auto", feed=None):
    """Trains for ``epochs`` epochs, resuming from the latest checkpoint if any.

    Args:
        build_model: ``() -> compiled model``, called only when there is no
            checkpoint yet.
        epoch_dataset: ``(epoch) -> tf.data.Dataset`` with at least
            ``steps_per_epoch`` batches; must give the same batches for the
            same epoch every time it is called (seed it with the epoch).
        epochs, steps_per_epoch: the run's length.
        checkpoint_dir, every_steps, keep: see `AtomicCheckpoint`.
        callbacks: more callbacks for every `fit` call.
        feed: optional ``(dataset) -> fit input``, applied after the skip,
            e.g. `keras_semppl.distribute.tf_multi_worker.shard_global_batches`.

    Seed the process as the interrupted run did (`keras.utils.set_random_seed`)
    before calling: `tf.data`'s seeded ops also depend on the global seed.
    The folder's ``run.json`` records the backend; a folder written under
    another backend is refused (ValueError: the continuation would not be
    bit-exact).

    Raises:
        DivergenceError: naming the step, its epoch and batch, and the
            newest (finite) checkpoint.
        CheckpointError: a checkpoint could not be written (full disk).

    Returns:
        ``(model, history)``: the trained model and {metric: [per epoch]} of
        the epochs trained in this call (a resumed epoch's entry averages
        only its remaining steps).
    """
    check_backend(checkpoint_dir)
    latest = latest_checkpoint(checkpoint_dir)
    # (Importing this module imported the package, which registers its classes.)
    model = build_model() if latest is None else keras.saving.load_model(latest)
    if hasattr(model, "set_run_length"):
        # One EMA schedule for the whole run, whatever the fit calls resumed.
        model.set_run_length(epochs * steps_per_epoch)
    done = _step(model)
    start_epoch, skip = divmod(done, steps_per_epoch)
    checkpoint = AtomicCheckpoint(checkpoint_dir, every_steps=every_steps, keep=keep)
    history = {}
    for epoch in range(start_epoch, epochs):
        dataset = epoch_dataset(epoch)
        steps = steps_per_epoch
        if epoch == start_epoch and skip:
            dataset, steps = dataset.skip(skip), steps_per_epoch - skip
        if feed is not None:
            dataset = feed(dataset)
        try:
            result = model.fit(dataset, initial_epoch=epoch, epochs=epoch + 1,
                               steps_per_epoch=steps, callbacks=[checkpoint, *callbacks],
                               verbose=verbose)
        except DivergenceError as error:
            raise error.in_run(steps_per_epoch, latest_checkpoint(checkpoint_dir)) from None
        for key, values in result.history.items():
            history.setdefault(key, []).extend(values)
    return model, history

"""``DIR/run.json``: what a checkpoint folder's run was, so that a rerun on
that folder continues the same run or is refused.

The record holds the run's settings (``semppl train`` records its training
flags) and the Keras backend that wrote the checkpoints. Resuming under
another backend is refused: the run would continue, but not bit-exact (each
backend has its own kernels and random streams), so "resume" would no longer
mean "the run that was interrupted".
"""

import json
import os

import keras

from keras_semppl.distribute.processes import is_chief
from keras_semppl.io.atomic import write_text

RECORD_NAME = "run.json"


def read_run_record(directory):
    """The folder's record as a dict, or None; ValueError naming a damaged file."""
    path = os.path.join(os.fspath(directory), RECORD_NAME)
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            record = json.load(f)
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(
            f"the run record {path!r} is not valid JSON ({error}): it is damaged, e.g. "
            "truncated by hand. Restore it, or delete it to record the current run's "
            "settings anew.") from None
    if not isinstance(record, dict):
        raise ValueError(f"the run record {path!r} must hold a JSON object; got "
                         f"{type(record).__name__}.")
    return record


def _check_backend(directory, record):
    written = record.get("backend")
    current = keras.backend.backend()
    if written is not None and written != current:
        raise ValueError(
            f"{os.fspath(directory)!r} was written under the {written} backend; this process "
            f"runs {current}. Resuming there is refused: the run would go on, but not bit-exact "
            f"(other kernels and random streams). Rerun with KERAS_BACKEND={written}, or use "
            "another folder (a model file loads and trains on any backend).")


def check_backend(directory):
    """ValueError if ``directory``'s checkpoints were written under another backend.

    Records the current backend when the folder has no record yet (folders
    recorded before the backend was, carry on unchecked).
    """
    record = read_run_record(directory)
    if record is None:
        if is_chief():  # in a multi-process job, process 0 writes
            write_text(os.path.join(os.fspath(directory), RECORD_NAME),
                       json.dumps({"backend": keras.backend.backend()}, indent=1))
        return
    _check_backend(directory, record)


def check_run_record(directory, settings):
    """Records ``settings`` (and the backend) in a new folder; else checks them.

    Raises:
        ValueError: the record is damaged, was written under another backend,
            or holds other settings (each changed key named, with both values).
    """
    record = read_run_record(directory)
    if record is None:
        if is_chief():  # in a multi-process job, process 0 writes
            settings = dict(settings, backend=keras.backend.backend())
            write_text(os.path.join(os.fspath(directory), RECORD_NAME),
                       json.dumps(settings, indent=1, sort_keys=True))
        return
    _check_backend(directory, record)
    recorded = {k: v for k, v in record.items() if k != "backend"}
    changed = sorted(k for k in set(settings) | set(recorded)
                     if settings.get(k) != recorded.get(k))
    if changed:
        details = ", ".join(f"{k}: {recorded.get(k)!r} there, {settings.get(k)!r} now"
                            for k in changed)
        raise ValueError(f"{os.fspath(directory)!r} holds a run with other settings "
                         f"({details}); rerun with the same flags or use another folder.")

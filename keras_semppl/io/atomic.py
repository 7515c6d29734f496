"""Atomic file writes: a temporary file in the target's folder, then a rename.

`os.replace` within one folder is atomic on POSIX and Windows: a reader (or
the next run) sees either the previous complete file or the new complete
file, never a truncated one, even when the writer is killed mid-write.
Everything the library and the command line write goes through here.
"""

import contextlib
import json
import os
import zipfile


def _fsync_folder(folder):
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows: folders cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def check_writable_folder(path, what="--output"):
    """Creates ``path``'s folder if needed; ValueError if it cannot hold files.

    Call before a long run so that a bad path fails in a second, not after
    training. ``what`` names the argument in the message.
    """
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ValueError(f"{what} {path!r}: a parent of {folder!r} is a file, not a folder.") \
            from None
    except OSError as error:
        raise ValueError(f"{what} {path!r}: cannot create {folder!r} ({error.strerror}).") \
            from None
    if os.path.isdir(path):
        raise ValueError(f"{what} {path!r} is a folder; expected a file path.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{what} {path!r}: the folder {folder!r} is not writable.")
    return folder


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path beside ``path``; renames it onto ``path`` on success.

    The temporary name keeps ``path``'s extension (Keras and Matplotlib pick
    the format from it). On an exception the temporary file is removed and
    ``path`` is left as it was.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    base = os.path.basename(path)
    _, extension = os.path.splitext(base)
    tmp = os.path.join(folder, f".{base}.tmp-{os.getpid()}{extension}")
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    _fsync_folder(folder)


def write_text(path, text):
    """Writes ``text`` to ``path`` atomically; returns ``path``."""
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            f.write(text)
    return path


def save_model(model, path):
    """``model.save(path)`` atomically: the previous file survives a crash mid-save."""
    path = os.fspath(path)
    if not path.endswith(".keras"):
        raise ValueError(f"A model file must end with .keras; got {path!r}.")
    with atomic_path(path) as tmp:
        model.save(tmp)
    return path


def check_keras_file(path, what="model file"):
    """ValueError unless ``path`` is an existing, complete ``.keras`` (zip) file.

    Tells apart a missing file, a folder, a truncated or foreign file (Keras
    itself reports the last two as "File not found") and a zip whose
    ``config.json`` is not valid JSON (Keras reports only the JSON error).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ValueError(f"{what} {path!r} does not exist.")
    if os.path.isdir(path):
        raise ValueError(f"{what} {path!r} is a folder; expected a .keras file.")
    if not zipfile.is_zipfile(path):
        size = os.path.getsize(path)
        raise ValueError(
            f"{what} {path!r} is not a complete .keras file ({size} bytes, not a zip "
            "archive): it is truncated, e.g. by a save that was interrupted, or not a "
            "Keras model.")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError) as error:
        raise ValueError(f"{what} {path!r} is a damaged zip archive ({error}).") from None
    if bad is not None:
        raise ValueError(f"{what} {path!r} is damaged: its member {bad!r} fails its checksum.")
    if "config.json" not in names:
        raise ValueError(f"{what} {path!r} is a zip archive but not a Keras model "
                         "(no config.json inside).")
    try:
        with zipfile.ZipFile(path) as archive:
            json.loads(archive.read("config.json"))
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"{what} {path!r} is not a complete .keras file: its config.json "
                         f"is not valid JSON ({error}).") from None
    return path

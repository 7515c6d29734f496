"""The Keras backend, checked before Keras is imported.

Keras reads its backend once, on import, from ``KERAS_BACKEND`` (else the
``backend`` of its ``keras.json``, else TensorFlow), and a misspelt or
missing backend surfaces as a long traceback from inside Keras. `semppl`
calls `backend_problem` first and exits with its one line instead. Nothing
here imports Keras.
"""

import importlib
import importlib.util
import json
import os

#: Backend name -> (module Keras imports for it, the keras-semppl extra that installs it).
BACKENDS = {"jax": ("jax", "jax"), "tensorflow": ("tensorflow", "tensorflow"),
            "torch": ("torch", "torch")}


def _keras_json_backend(environ):
    """The ``backend`` of Keras' config file, or None (no file, unreadable, no key)."""
    home = environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json")) as f:
            value = json.load(f).get("backend")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def configured_backend(environ=None):
    """(name, source): the backend Keras will load and where that choice comes from."""
    environ = os.environ if environ is None else environ
    if environ.get("KERAS_BACKEND"):
        return environ["KERAS_BACKEND"], "KERAS_BACKEND"
    from_file = _keras_json_backend(environ)
    if from_file:
        return from_file, "keras.json"
    return "tensorflow", "Keras' default"


def _installed(module):
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def backend_problem(environ=None):
    """None when the configured backend is known and imports, else one line saying what to do.

    The backend's module is imported here (Keras would import it next anyway),
    so a broken install is caught too.
    """
    name, source = configured_backend(environ)
    where = f"KERAS_BACKEND={name!r}" if source == "KERAS_BACKEND" else (
        f"the backend {name!r} ({source})")
    if name not in BACKENDS:
        return (f"{where} is not a backend semppl runs on; "
                f"set KERAS_BACKEND to one of: {', '.join(BACKENDS)}.")
    module, extra = BACKENDS[name]
    try:
        importlib.import_module(module)
    except ImportError as error:
        others = [n for n, (m, _) in BACKENDS.items() if n != name and _installed(m)]
        instead = f", or set KERAS_BACKEND to {' or '.join(others)}" if others else ""
        missing = getattr(error, "name", None) in (module, module.split(".")[0])
        what = "is not installed" if missing else f"failed to import ({error})"
        return (f"{where}, but {module} {what}: pip install \"keras-semppl[{extra}]\""
                f"{instead}.")
    return None

"""keras-semppl: SemPPL (ICLR 2023) for Keras 3 on TensorFlow, JAX and PyTorch.

``import keras_semppl`` loads the public API and registers every serialisable
class with Keras, so ``keras.saving.load_model`` restores a saved `SemPPL`
model, its layers, `LARS` and the schedules after that one import:

    import keras, keras_semppl
    model = keras.saving.load_model("semppl.keras")

Sub-packages: `augment`, `callbacks`, `data`, `distribute`, `encoders`,
`evaluation`, `io` (atomic saves), `layers`, `losses`, `models`,
`optimizers`, `plots`, `pretrained` (the released SemPPL encoders),
`schedules`; the module `precision` resolves
``--precision auto``.
"""

import sys as _sys

from keras_semppl.version import __version__


def _load_api():
    """Imports the sub-packages (each class registers itself on import)."""
    global SemPPL, LARS
    from keras_semppl import augment  # noqa: F401
    from keras_semppl import callbacks  # noqa: F401
    from keras_semppl import data  # noqa: F401
    from keras_semppl import distribute  # noqa: F401
    from keras_semppl import encoders  # noqa: F401
    from keras_semppl import evaluation  # noqa: F401
    from keras_semppl import io  # noqa: F401
    from keras_semppl import layers  # noqa: F401
    from keras_semppl import losses  # noqa: F401
    from keras_semppl import models  # noqa: F401
    from keras_semppl import optimizers  # noqa: F401
    from keras_semppl import plots  # noqa: F401
    from keras_semppl import pretrained  # noqa: F401
    from keras_semppl import schedules  # noqa: F401
    from keras_semppl.models import SemPPL
    from keras_semppl.optimizers import LARS


# The `semppl` command parses its arguments before Keras is imported (a fast
# `--help`); its entry module asks for that by being imported first.
if not getattr(_sys.modules.get("keras_semppl_cli"), "PARSING", False):
    _load_api()

__all__ = [
    "LARS",
    "SemPPL",
    "__version__",
    "augment",
    "callbacks",
    "data",
    "distribute",
    "encoders",
    "evaluation",
    "io",
    "layers",
    "losses",
    "models",
    "optimizers",
    "plots",
    "pretrained",
    "schedules",
]

"""Picks the backend's trainer once, at import, as Keras itself does.

`base.SemPPLTrainerBase` holds the step sequence and declares what the model
provides; each backend trainer only takes gradients and applies them. The
maths lives in `keras_semppl.models.semppl` and `keras_semppl.losses`.
"""

import keras

_BACKEND = keras.backend.backend()

if _BACKEND == "jax":
    from keras_semppl.models.trainers.jax_trainer import JAXSemPPLTrainer as Trainer
elif _BACKEND == "tensorflow":
    from keras_semppl.models.trainers.tensorflow_trainer import (
        TensorFlowSemPPLTrainer as Trainer,
    )
elif _BACKEND == "torch":
    from keras_semppl.models.trainers.torch_trainer import (
        TorchSemPPLTrainer as Trainer,
    )
else:
    raise ImportError(
        f"keras-semppl supports the jax, tensorflow and torch backends; "
        f"KERAS_BACKEND is {_BACKEND!r}."
    )

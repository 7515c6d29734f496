"""Frozen encoders: load one from a `.keras` file, embed a set of images."""

import numpy as np
from keras import ops


def embed_images(encoder, images, batch_size=256):
    """Runs the encoder in inference mode: (N, H, W, C) -> (N, F) float32 NumPy."""
    outputs = []
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size]
        outputs.append(ops.convert_to_numpy(encoder(batch, training=False)))
    return np.concatenate(outputs, axis=0).astype("float32")


def load_encoder(path):
    """The encoder in a .keras file: `extract_encoder()` of a SemPPL model, else the model.

    Raises:
        ValueError: the file is missing, truncated or not a Keras model, or
            holds neither a SemPPL model nor a model from
            images (B, H, W, C) to features (B, F).
    """
    import keras

    from keras_semppl.io.atomic import check_keras_file

    # The package's classes registered themselves when it was imported.
    check_keras_file(path)
    model = keras.saving.load_model(path, compile=False)
    if hasattr(model, "extract_encoder"):  # a SemPPL model
        return model.extract_encoder()
    if len(model.inputs[0].shape) != 4 or len(model.outputs[0].shape) != 2:
        raise ValueError(f"{path} is neither a SemPPL model nor an encoder from images "
                         f"(B, H, W, C) to features (B, F).")
    return model


def encoder_image_size(encoder):
    """(height, width) the encoder's input is fixed to, or None when it takes any size."""
    height, width = tuple(encoder.inputs[0].shape[1:3])
    return None if height is None or width is None else (int(height), int(width))

"""Frozen-encoder embeddings of a set of images."""

import numpy as np
from keras import ops


def embed_images(encoder, images, batch_size=256):
    """Runs the encoder in inference mode: (N, H, W, C) -> (N, F) float32 NumPy."""
    outputs = []
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size]
        outputs.append(ops.convert_to_numpy(encoder(batch, training=False)))
    return np.concatenate(outputs, axis=0).astype("float32")

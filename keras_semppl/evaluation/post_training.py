"""The check run right after training: weighted k-NN accuracy on the held-out set.

The labelled training images are the references, the held-out images the
queries, both at the size the encoder was trained on (`semppl train`
reports it for SemPPL and for the supervised baseline).
"""

import numpy as np

from keras_semppl.evaluation.embed import embed_images
from keras_semppl.evaluation.knn_eval import knn_classify


def held_out_knn_accuracy(encoder, data, image_size):
    """Top-1 weighted k-NN accuracy (k=20, temperature 0.07) on ``data``'s held-out set.

    Args:
        encoder: `keras.Model` (B, H, W, C) -> (B, F).
        data: `SemiSupervisedArrays`: labelled training images are the
            references, ``val_images`` / ``val_labels`` the queries.
        image_size: int side (or (height, width)) to resize both sets to
            when they differ from it (bilinear, antialiased).

    Returns:
        float in [0, 1].
    """
    # tf.image resizing: imported here, so that importing the evaluation
    # package does not import TensorFlow.
    from keras_semppl.data.images import resize_if_needed
    from keras_semppl.data.images import size_pair

    size = size_pair(image_size)

    def at_size(images):
        return resize_if_needed(images, size, 1.0).numpy()

    labelled = data.labelled_mask
    predictions = knn_classify(embed_images(encoder, at_size(data.images[labelled])),
                               data.labels[labelled],
                               embed_images(encoder, at_size(data.val_images)),
                               data.num_classes)
    return float(np.mean(predictions == data.val_labels))

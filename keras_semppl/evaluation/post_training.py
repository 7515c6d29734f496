"""The report run right after training: every method on the held-out set.

The labelled training images are the references, the held-out images the
queries, both at the size the encoder was trained on; `semppl train` prints
the result for SemPPL, the supervised baseline and the raw-pixel baselines
(`method_comparison`).
"""

from keras_semppl.evaluation.method_comparison import compare_methods


def held_out_comparison(data, image_size, semppl=None, supervised=None, classical=True,
                        seed=0):
    """`compare_methods` on ``data`` with its images at ``image_size``.

    Args:
        data: `SemiSupervisedArrays`.
        image_size: int side (or (height, width)) to resize both sets to
            when they differ from it (bilinear, antialiased).
        semppl, supervised, classical, seed: as in `compare_methods`.

    Returns:
        {method: {protocol: accuracy}}.
    """
    # tf.image resizing: imported here, so that importing the evaluation
    # package does not import TensorFlow.
    from keras_semppl.data.images import resize_if_needed
    from keras_semppl.data.images import size_pair

    size = size_pair(image_size)

    def at_size(images):
        return resize_if_needed(images, size, 1.0).numpy()

    return compare_methods(at_size(data.images), data.labels, at_size(data.val_images),
                           data.val_labels, data.num_classes, semppl=semppl,
                           supervised=supervised, classical=classical, seed=seed)

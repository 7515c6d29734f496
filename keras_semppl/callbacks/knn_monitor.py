"""k-NN (and linear-probe) evaluation of the encoder every N epochs, as Keras callbacks."""

import math

import keras
import numpy as np

from keras_semppl.evaluation.embed import embed_images
from keras_semppl.evaluation.knn_eval import DEFAULT_K
from keras_semppl.evaluation.knn_eval import DEFAULT_TEMPERATURE
from keras_semppl.evaluation.knn_eval import knn_class_scores
from keras_semppl.evaluation.classification_metrics import top_k_accuracy


def _encoder_of(model):
    return model.extract_encoder() if hasattr(model, "extract_encoder") else model


class _EveryNEpochs(keras.callbacks.Callback):
    """Shared scheduling: runs `_evaluate` at epochs every, 2*every, ... and the last.

    Skipped epochs log NaN under the same keys, so every `History` list has one
    value per epoch (plots skip NaN).
    """

    keys = ()

    def __init__(self, reference_images, reference_labels, val_images, val_labels,
                 num_classes, every=1, batch_size=256, prefix="val_"):
        super().__init__()
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be an int >= 1; got {every!r}.")
        labels = np.asarray(reference_labels)
        keep = labels >= 0
        self.reference_images = np.asarray(reference_images)[keep]
        self.reference_labels = labels[keep].astype("int64")
        if len(self.reference_labels) == 0:
            raise ValueError("The monitor needs at least one labelled reference image.")
        self.val_images = np.asarray(val_images)
        self.val_labels = np.asarray(val_labels, "int64")
        self.num_classes = num_classes
        self.every = every
        self.batch_size = batch_size
        self.prefix = prefix
        self._epochs = None

    def on_train_begin(self, logs=None):
        self._epochs = self.params.get("epochs") if self.params else None

    def _due(self, epoch):
        last = self._epochs is not None and epoch + 1 == self._epochs
        return (epoch + 1) % self.every == 0 or last

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        if self._due(epoch):
            encoder = _encoder_of(self.model)
            ref = embed_images(encoder, self.reference_images, self.batch_size)
            val = embed_images(encoder, self.val_images, self.batch_size)
            logs.update(self._evaluate(ref, val))
        else:
            logs.update({self.prefix + k: math.nan for k in self.keys})


class KNNMonitor(_EveryNEpochs):
    """Weighted k-NN accuracy of the frozen encoder on a validation split.

    Every ``every`` epochs (and after the last) the encoder (`extract_encoder()`
    of a SemPPL model, else the model itself) embeds the labelled reference
    images and the validation images; the weighted k-NN vote
    (`keras_semppl.evaluation.knn_eval`) is scored. Logs ``val_knn_accuracy``
    and ``val_knn_top5`` into the epoch logs, so they reach `History`, the
    progress bar and TensorBoard (place this callback before `TensorBoard`).

    Args:
        reference_images: (N, H, W, C) with reference_labels (N,); -1 rows are dropped.
        val_images: (M, H, W, C) with val_labels (M,).
        num_classes: C.
        every: evaluation period in epochs.
        k, temperature: k-NN settings (defaults 20 and 0.07, Wu et al. 2018).
    """

    keys = ("knn_accuracy", "knn_top5")

    def __init__(self, reference_images, reference_labels, val_images, val_labels,
                 num_classes, every=1, k=DEFAULT_K, temperature=DEFAULT_TEMPERATURE,
                 batch_size=256, prefix="val_"):
        super().__init__(reference_images, reference_labels, val_images, val_labels,
                         num_classes, every=every, batch_size=batch_size, prefix=prefix)
        self.k = k
        self.temperature = temperature

    def _evaluate(self, ref, val):
        scores = knn_class_scores(ref, self.reference_labels, val, self.num_classes,
                                  k=self.k, temperature=self.temperature)
        return {self.prefix + "knn_accuracy": top_k_accuracy(scores, self.val_labels, 1),
                self.prefix + "knn_top5": top_k_accuracy(scores, self.val_labels, 5)}


class LinearProbeMonitor(_EveryNEpochs):
    """Linear-probe accuracy on stop-gradient (frozen, cached) features.

    Every ``every`` epochs a fresh linear classifier is fitted on the labelled
    reference embeddings (`keras_semppl.evaluation.linear_probe`, few epochs by
    default) and scored on the validation split; logs ``val_linear_accuracy``.
    Unlike BYOL's online probe it is refitted from scratch at each evaluation
    and never touches the training step.
    """

    keys = ("linear_accuracy",)

    def __init__(self, reference_images, reference_labels, val_images, val_labels,
                 num_classes, every=1, epochs=50, base_lr=0.3, batch_size=256, prefix="val_"):
        super().__init__(reference_images, reference_labels, val_images, val_labels,
                         num_classes, every=every, batch_size=batch_size, prefix=prefix)
        self.probe_epochs = epochs
        self.base_lr = base_lr

    def _evaluate(self, ref, val):
        from keras_semppl.evaluation.linear_probe import train_linear_probe

        predict = train_linear_probe(ref, self.reference_labels, self.num_classes,
                                     epochs=self.probe_epochs, base_lr=self.base_lr)
        return {self.prefix + "linear_accuracy": top_k_accuracy(predict(val), self.val_labels, 1)}

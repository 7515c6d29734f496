"""A progress bar that fits 80 columns: the few metrics worth watching.

Keras' `ProgbarLogger` prints every metric of the logs; SemPPL logs ten or
more (loss terms, pseudo-label monitors, the probe), which wraps a terminal
line several times. `CompactProgbarLogger` shows the total loss and the
pseudo-label accuracy under a short name; History, TensorBoard and the
plots still get every metric. `SemPPL.fit` uses it unless the callbacks
already hold a `keras.callbacks.ProgbarLogger` (pass Keras' own for the
full line).
"""

import keras

#: {metric in the logs: name shown}, in display order.
SHOWN = {"loss": "loss", "pseudo_label_accuracy": "pl_acc", "l_augm": "l_augm"}


class CompactProgbarLogger(keras.callbacks.ProgbarLogger):
    """Keras' progress bar, showing at most two metrics of `SHOWN` (and their
    ``val_`` forms at an epoch's end): the loss, and the pseudo-label
    accuracy as ``pl_acc`` (or, without semantic positives, ``l_augm``)."""

    def _compact(self, logs):
        if not logs:
            return logs
        shown = {}
        for prefix in ("", "val_"):
            picked = [(key, name) for key, name in SHOWN.items() if prefix + key in logs][:2]
            for key, name in picked:
                shown[prefix + name] = logs[prefix + key]
        return shown

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, self._compact(logs))

    def on_test_batch_end(self, batch, logs=None):
        super().on_test_batch_end(batch, self._compact(logs))

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, self._compact(logs))

    def on_test_end(self, logs=None):
        super().on_test_end(self._compact(logs))

"""A tiny resumable SemPPL run, for the kill-and-resume tests.

    python -m tests.resume_job CHECKPOINT_DIR [KILL_AT_STEP]

trains 2 epochs of 4 steps with a checkpoint every 2 steps; with
KILL_AT_STEP the process SIGKILLs itself right after that optimizer step
(after any checkpoint of that step), as a preempted job would die.
"""

import os
import signal
import sys

import numpy as np

EPOCHS, STEPS, EVERY = 2, 4, 2
SEED = 3


def _data():
    from tests.toy_data import toy_batch_dict

    data = toy_batch_dict(n=48, seed=1)
    return data["large_views"][0], data["labels"], data["true_labels"]


def epoch_dataset(epoch):
    """Epoch ``epoch``'s batches: a function of (SEED, epoch) only."""
    import tensorflow as tf

    from keras_semppl.data.pipeline import make_training_dataset

    images, labels, true_labels = _data()

    def view_fn(image, seed):
        flipped = tf.image.stateless_random_flip_left_right(image, seed)
        return (image, flipped), ()

    return make_training_dataset(images, labels, 8, view_fn, true_labels=true_labels,
                                 seed=SEED * 1000 + epoch, num_classes=3, repeat=True)


def build_model():
    import keras

    from tests.toy_data import tiny_model

    keras.utils.set_random_seed(SEED)
    model = tiny_model(queue_size=16)
    schedule = keras.optimizers.schedules.CosineDecay(1e-3, EPOCHS * STEPS)
    model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=1e-4))
    return model


def run(directory, kill_at=None):
    import keras

    from keras_semppl.callbacks.checkpoint import fit_resumable

    class KillAt(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
            if kill_at is not None and step == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

    # As `semppl train` does: tf.data's seeded ops also depend on the global seed.
    keras.utils.set_random_seed(SEED)
    return fit_resumable(build_model, epoch_dataset, EPOCHS, STEPS, directory,
                         every_steps=EVERY, keep=2, callbacks=[KillAt()], verbose=0)


def state(model):
    """[(name, NumPy value)] of every model and optimizer variable (seeds included),
    in tracking order; names without Keras' per-process numbering."""
    import re

    import keras

    variables = list(model.variables) + list(model.optimizer.variables)
    return [(re.sub(r"_\d+(?=/|$)", "", v.path),
             np.asarray(keras.ops.convert_to_numpy(v.value))) for v in variables]


if __name__ == "__main__":
    run(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else None)

"""
Title: SemPPL on ImageNet with 1% or 10% of the labels
Author: keras-semppl
Date created: 2026/11/29
Last modified: 2026/11/29
Description: The paper's ImageNet recipe (ResNet-50, 4 large + 2 small views, LARS, 4096 batch) on TPU or GPUs.
Accelerator: TPU
"""

"""
## Introduction

This example trains SemPPL (Bošnjak et al., ICLR 2023) on ImageNet with the
SimCLR 1% or 10% labelled subsets, following the recipe the paper inherits
from BYOL: a ResNet-50, LARS (trust coefficient 1e-3, momentum 0.9, no
weight decay or trust-ratio scaling on biases and BatchNorm parameters),
learning rate 0.2 x batch / 256 with 10 warm-up epochs and a cosine decay,
a global batch of 4,096, and 300 epochs (the paper also reports 1,000). Each
image gets 4 large views of 224 px and 2 small views of 96 px, as in the
public reimplementation (MAE-CT_SemPPL).

Sharding:

- **JAX**: `keras.distribution.DataParallel` over every local accelerator;
  `train_step` then sees the global batch, so the queue and the k-NN vote
  need no extra all-gather.
- **TensorFlow**: `tf.distribute.TPUStrategy` when a TPU is configured
  (`TPU_NAME`, `COLAB_TPU_ADDR` or `SEMPPL_USE_TPU=1`), else
  `MirroredStrategy` over the local GPUs. The model all-gathers the target
  projections across replicas before it enqueues them.
- **PyTorch**: one device (Keras' torch `fit` is not distributed).

What it needs: `imagenet2012` and `imagenet2012_subset` prepared with
TensorFlow Datasets in `SEMPPL_TFDS_DATA_DIR` (ImageNet needs a manual
download, see the TFDS catalogue); nothing is downloaded here. Headline
numbers in the paper come from fine-tuning on the labelled subset; this
example ends with the cheaper k-NN evaluation on the validation set.

`SEMPPL_IMAGENET_DRY_RUN=1` replaces ImageNet by a few synthetic images and
shrinks the network and the views, then runs the very same pipeline, one
training step, the k-NN evaluation and the save; the tests use it to check
that this file imports, builds and trains on every backend.
"""

"""
## Setup
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")  # or "tensorflow", "torch"

import contextlib
import json
import pathlib
import time

import keras
import numpy as np
import tensorflow as tf

from keras_semppl.augment import byol_view_configs
from keras_semppl.augment import make_view_fn
from keras_semppl.callbacks import AtomicCheckpoint
from keras_semppl.data.tfds_source import ImagenetSubset
from keras_semppl.data.tfds_source import tfds_imagenet_subset
from keras_semppl.encoders import resnet50
from keras_semppl.evaluation import knn_classify
from keras_semppl.io import save_model
from keras_semppl.models import SemPPL
from keras_semppl.script_settings import ScriptSettings
from keras_semppl.optimizers import LARS
from keras_semppl.schedules import WarmupCosineDecay

print("Keras", keras.__version__, "on", keras.backend.backend())

"""
## Configuration

Values marked "choice" are not given by the sources available to this
project (`SEMPPL.md`); they are exposed so you can change them.
"""

DRY_RUN = os.environ.get("SEMPPL_IMAGENET_DRY_RUN", "0") == "1"


setting = ScriptSettings(small=DRY_RUN)  # setting(NAME, full, small); SEMPPL_NAME overrides


PERCENT = setting("PERCENT", 1, 1)  # SimCLR's 1% or 10% labelled subset
DATA_DIR = os.environ.get("SEMPPL_TFDS_DATA_DIR")  # None: TFDS' default folder
LARGE_SIZE = setting("LARGE_SIZE", 224, 32)
SMALL_SIZE = setting("SMALL_SIZE", 96, 16)
NUM_LARGE_VIEWS = setting("NUM_LARGE_VIEWS", 4, 4)
NUM_SMALL_VIEWS = setting("NUM_SMALL_VIEWS", 2, 2)
BATCH_SIZE = setting("BATCH_SIZE", 4096, 16)  # global, over all devices
LABELLED_PER_BATCH = setting("LABELLED_PER_BATCH", 512, 4)  # choice
EPOCHS = setting("EPOCHS", 300, 1)
STEPS_PER_EPOCH = setting("STEPS_PER_EPOCH", 0, 1)  # 0: one pass over ImageNet's train split
WARMUP_EPOCHS = setting("WARMUP_EPOCHS", 10, 0)
BASE_LEARNING_RATE = setting("BASE_LEARNING_RATE", 0.2, 0.2)  # BYOL
LARS_ETA = setting("LARS_ETA", 1e-3, 1e-3)
LARS_MOMENTUM = setting("LARS_MOMENTUM", 0.9, 0.9)
WEIGHT_DECAY = setting("WEIGHT_DECAY", 1.5e-6, 1.5e-6)  # BYOL
TARGET_DECAY_BASE = setting("TARGET_DECAY_BASE", 0.99, 0.99)  # BYOL: 0.996 for 1,000 epochs
WIDTH_MULTIPLIER = setting("WIDTH_MULTIPLIER", 1.0, 1 / 32)
HEAD_HIDDEN_DIM = setting("HEAD_HIDDEN_DIM", 4096, 32)  # BYOL
PROJECTION_DIM = setting("PROJECTION_DIM", 256, 16)  # BYOL
QUEUE_SIZE = setting("QUEUE_SIZE", 20480, 32)  # choice (MAE-CT_SemPPL: 2,560 on CIFAR)
SHUFFLE_BUFFER = setting("SHUFFLE_BUFFER", 10_000, 16)
EVAL_SIZE = setting("EVAL_SIZE", 224, 32)  # centre crop for evaluation
KNN_K = setting("KNN_K", 20, 3)
SEED = setting("SEED", 0, 0)
OUTPUT_DIR = pathlib.Path(os.environ.get("SEMPPL_OUTPUT_DIR", "imagenet_semppl_output"))

keras.utils.set_random_seed(SEED)

"""
## Devices

The strategy (TensorFlow) or distribution (JAX) must exist before the model
is built, so the model's variables are placed on every device.
"""


def use_tpu():
    return any(os.environ.get(name) for name in ("TPU_NAME", "COLAB_TPU_ADDR")) or \
        os.environ.get("SEMPPL_USE_TPU") == "1"


def distribution_scope():
    """(context manager to build the model in, number of devices)."""
    backend = keras.backend.backend()
    if backend == "jax":
        devices = keras.distribution.list_devices()
        if len(devices) > 1:
            keras.distribution.set_distribution(
                keras.distribution.DataParallel(devices=devices))
        return contextlib.nullcontext(), len(devices)
    if backend == "tensorflow":
        if use_tpu():
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
                tpu=os.environ.get("TPU_NAME", ""))
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
            strategy = tf.distribute.TPUStrategy(resolver)
        elif len(tf.config.list_logical_devices("GPU")) > 1:
            strategy = tf.distribute.MirroredStrategy()
        else:
            strategy = tf.distribute.get_strategy()
        return strategy.scope(), strategy.num_replicas_in_sync
    return contextlib.nullcontext(), 1


scope, num_devices = distribution_scope()
if BATCH_SIZE % num_devices:
    raise ValueError(f"BATCH_SIZE={BATCH_SIZE} is not a multiple of {num_devices} devices.")
print(f"{num_devices} device(s), {BATCH_SIZE // num_devices} examples per device")

"""
## The data

`tfds_imagenet_subset` streams three `tf.data` sets of unbatched examples:
the labelled 1% / 10% subset, all of ImageNet's training split with labels
hidden (label -1, the truth kept as "true_label" for monitoring), and the
validation split. The dry run builds the same structure from random images.
"""


def synthetic_subset(num_classes=4, per_split=16, shape=(40, 48, 3)):
    """A tiny stand-in for `tfds_imagenet_subset` (uint8 images, one size)."""
    rng = np.random.default_rng(SEED)

    def split(hide):
        images = rng.integers(0, 256, (per_split,) + shape, dtype=np.uint8)
        labels = np.arange(per_split, dtype=np.int32) % num_classes
        if hide:
            return tf.data.Dataset.from_tensor_slices(
                {"image": images, "label": np.full(per_split, -1, np.int32),
                 "true_label": labels})
        return tf.data.Dataset.from_tensor_slices({"image": images, "label": labels})

    return ImagenetSubset(labelled=split(False), unlabelled=split(True), eval=split(False),
                          num_classes=num_classes, num_labelled=per_split,
                          num_unlabelled=per_split, num_eval=per_split)


if DRY_RUN:
    subset = synthetic_subset()
else:
    subset = tfds_imagenet_subset(DATA_DIR, percent=PERCENT, shuffle_files=True)
print(f"{subset.num_labelled} labelled, {subset.num_unlabelled} unlabelled, "
      f"{subset.num_eval} validation images, {subset.num_classes} classes")

"""
## Views and batches

Every batch holds `LABELLED_PER_BATCH` examples of the labelled subset
(repeated as often as needed) followed by unlabelled ones, as a dict of
views, labels, example ids (so a labelled example never finds itself in the
queue) and hidden true labels. Views are BYOL's augmentations, computed by
`make_view_fn` from (seed, a per-element salt, the example id).
"""

view_fn = make_view_fn(
    byol_view_configs(num_large=NUM_LARGE_VIEWS, num_small=NUM_SMALL_VIEWS,
                      large_size=LARGE_SIZE, small_size=SMALL_SIZE),
    seed=SEED,
)
AUTOTUNE = tf.data.AUTOTUNE


def view_stream(examples, id_offset, batch_size, seed):
    """Batches of views of `examples` (repeated, shuffled)."""
    salts = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    examples = examples.enumerate(start=id_offset)  # ids fixed before shuffling
    examples = examples.repeat().shuffle(SHUFFLE_BUFFER, seed=seed)

    def to_views(salt, indexed):
        index, example = indexed
        large, small = view_fn(example["image"], tf.stack([salt, index]))
        label = example["label"]
        return {"large_views": tuple(large), "small_views": tuple(small),
                "labels": label, "ids": tf.cast(index, tf.int32),
                "true_labels": example.get("true_label", label)}

    return (tf.data.Dataset.zip(salts, examples)
            .map(to_views, num_parallel_calls=AUTOTUNE)
            .batch(batch_size, drop_remainder=True))


def training_dataset(subset):
    labelled = view_stream(subset.labelled, 0, LABELLED_PER_BATCH, SEED)
    unlabelled = view_stream(subset.unlabelled, subset.num_labelled,
                             BATCH_SIZE - LABELLED_PER_BATCH, SEED + 1)
    concat = lambda a, b: tf.nest.map_structure(lambda x, y: tf.concat([x, y], 0), a, b)
    options = tf.data.Options()
    options.deterministic = False
    return (tf.data.Dataset.zip(labelled, unlabelled).map(concat)
            .with_options(options).prefetch(AUTOTUNE))


dataset = training_dataset(subset)
steps_per_epoch = STEPS_PER_EPOCH or subset.num_unlabelled // (BATCH_SIZE - LABELLED_PER_BATCH)
total_steps = EPOCHS * steps_per_epoch
print(f"{steps_per_epoch} steps per epoch, {total_steps} in all")

"""
## Model and optimizer

A ResNet-50 with the ImageNet stem (zero-initialised last BatchNorm of each
block, as in the Haiku ResNet of BYOL) with input height and width `None`,
so it takes the 224 and the 96 px views. BYOL's projector and predictor
(4,096 hidden, 256 out). The learning rate scales linearly with the batch.
"""

with scope:
    encoder = resnet50(input_shape=(None, None, 3), stem="imagenet",
                       width_multiplier=WIDTH_MULTIPLIER)
    model = SemPPL(
        encoder,
        num_classes=subset.num_classes,
        num_large_views=NUM_LARGE_VIEWS,
        num_small_views=NUM_SMALL_VIEWS,
        projector_hidden_dim=HEAD_HIDDEN_DIM,
        projection_dim=PROJECTION_DIM,
        predictor_hidden_dim=HEAD_HIDDEN_DIM,
        queue_size=QUEUE_SIZE,
        target_decay_base=TARGET_DECAY_BASE,
        target_decay_steps=total_steps,
        seed=SEED,
    )
    schedule = WarmupCosineDecay(
        BASE_LEARNING_RATE * BATCH_SIZE / 256, total_steps,
        warmup_steps=min(WARMUP_EPOCHS * steps_per_epoch, total_steps))
    model.compile(optimizer=LARS(schedule, momentum=LARS_MOMENTUM, eta=LARS_ETA,
                                 weight_decay=WEIGHT_DECAY))

"""
## Training

`AtomicCheckpoint` writes the whole model (online and target networks,
queue, optimizer state, random-seed states) after every epoch, through a
temporary file that is renamed into place, so a run killed mid-save keeps
its previous checkpoint; it keeps the newest two. For an exact resume
(same batches, same random draws) see `keras_semppl.callbacks.fit_resumable`
and `semppl train --checkpoint-dir`.
"""

OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
start = time.time()
history = model.fit(
    dataset, epochs=EPOCHS, steps_per_epoch=steps_per_epoch,
    callbacks=[AtomicCheckpoint(OUTPUT_DIR / "checkpoints", keep=2)],
    verbose=2 if DRY_RUN else "auto",
)
fit_seconds = time.time() - start

"""
## k-NN evaluation on the validation set

Images are resized (shorter side to 256/224 of the crop) and centre-cropped;
the labelled subset is the reference set. The vote is done in chunks so the
similarity matrix stays small.
"""


def centre_crop(example):
    image = tf.cast(example["image"], tf.float32) / 255.0
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = (EVAL_SIZE * 256 / 224) / tf.reduce_min(shape)
    image = tf.image.resize(image, tf.cast(tf.round(shape * scale), tf.int32))
    image = tf.image.resize_with_crop_or_pad(image, EVAL_SIZE, EVAL_SIZE)
    return image, example["label"]


def embed(encoder, examples, batch_size=256):
    """(N, F) float32 embeddings and (N,) labels of a stream of examples."""
    features, labels = [], []
    batches = examples.map(centre_crop, num_parallel_calls=AUTOTUNE).batch(batch_size)
    for images, batch_labels in batches.as_numpy_iterator():
        features.append(keras.ops.convert_to_numpy(encoder(images, training=False)))
        labels.append(batch_labels)
    return np.concatenate(features).astype(np.float32), np.concatenate(labels)


trained_encoder = model.extract_encoder()
reference, reference_labels = embed(trained_encoder, subset.labelled)
queries, query_labels = embed(trained_encoder, subset.eval)
predictions = np.concatenate([
    knn_classify(reference, reference_labels, queries[i:i + 1024], subset.num_classes,
                 k=KNN_K)
    for i in range(0, len(queries), 1024)])
accuracy = float(np.mean(predictions == query_labels))
print(f"k-NN top-1 accuracy on {len(query_labels)} validation images: {accuracy:.4f}")

"""
## Saving
"""

save_model(model, OUTPUT_DIR / "imagenet_semppl.keras")
save_model(trained_encoder, OUTPUT_DIR / "imagenet_encoder.keras")
print(json.dumps({
    "backend": keras.backend.backend(),
    "dry_run": DRY_RUN,
    "devices": num_devices,
    "knn_accuracy": round(accuracy, 4),
    "final_loss": round(float(history.history["loss"][-1]), 4),
    "fit_seconds": round(fit_seconds, 1),
    "saved": str(OUTPUT_DIR),
}))

"""
## What next

The paper's headline numbers fine-tune the whole network on the labelled
subset and report validation top-1 (ResNet-50: 68.5% with 1% of the labels,
76.0% with 10%); start from `imagenet_encoder.keras`.
"""

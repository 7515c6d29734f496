"""
Title: Semi-supervised CIFAR-10 with SemPPL
Author: keras-semppl
Date created: 2026/11/29
Last modified: 2026/11/29
Description: SemPPL on CIFAR-10 with 400 labels per class: BYOL views, a ResNet-18, LARS and a k-NN evaluation.
Accelerator: GPU
"""

"""
## Introduction

SemPPL (Bošnjak et al., "SemPPL: Predicting pseudo-labels for better
contrastive representations", ICLR 2023) learns an image encoder from a few
labelled images and many unlabelled ones. It is a contrastive method
(ReLICv2): every image gets several augmented *views*, and an online network
learns to predict a slowly moving (EMA) target network's projections of the
other views. SemPPL adds *semantic positives*: a queue keeps target
projections of labelled images, unlabelled images get a k-NN *pseudo-label*
from that queue, and queue entries sharing an image's (pseudo-)label become
extra positives. Labels choose positives; no cross-entropy trains the encoder.

This example trains SemPPL on CIFAR-10 with 400 labelled images per class
(the usual "4,000 labels" setting), holds out 10% of the training images for
validation, and scores the frozen encoder with a weighted k-NN classifier.

It runs on any Keras 3 backend (`jax`, `tensorflow` or `torch`), chosen by
`KERAS_BACKEND` before Keras is imported: in the notebook its set-up cell sets
it (edit `BACKEND` there), as a script your shell does (Keras' default is
`tensorflow`). The input pipeline is `tf.data` on every backend.

Every size below is a top-level constant that an environment variable
`SEMPPL_<NAME>` overrides (for example `SEMPPL_EPOCHS=10`), and
`SEMPPL_EXAMPLE_TINY=1` shrinks everything (3 classes, 30 images each, one
epoch, a narrow network) so that the whole example runs in seconds on a CPU;
the project's tests run it that way on every backend. The tiny run shows that
the code works, not that the method does.
"""

"""
## Setup
"""

import json
import os
import pathlib
import tarfile
import tempfile
import time

import keras
import numpy as np

from keras_semppl.augment import view_preset
from keras_semppl.augment import make_view_fn
from keras_semppl.plots import plot_embedding_map
from keras_semppl.plots import plot_training_curves
from keras_semppl.plots import plot_views
from keras_semppl.data import make_training_dataset
from keras_semppl.data.image_folder import load_image_folder
from keras_semppl.encoders import resnet18
from keras_semppl.evaluation import embed_images
from keras_semppl.evaluation import knn_classify
from keras_semppl.models import SemPPL
from keras_semppl.script_settings import ScriptSettings
from keras_semppl.optimizers import LARS
from keras_semppl.schedules import WarmupCosineDecay

print("Keras", keras.__version__, "on", keras.backend.backend())


def show(png):
    """Shows a saved PNG inline in a notebook; elsewhere prints its path."""
    try:
        from IPython import get_ipython
        from IPython.display import Image, display
    except ImportError:
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display(Image(filename=str(png)))
    else:
        print(f"saved {png}")

"""
## Configuration

Defaults are a single-GPU CIFAR run. Views follow the public SemPPL
reimplementation (MAE-CT_SemPPL) at CIFAR scale: 4 large views of 32 px and
2 small views of 16 px. The optimizer is LARS with a linear warm-up and a
cosine decay, with solo-learn's CIFAR settings for BYOL (learning rate
1.0 x batch / 256, trust coefficient 0.02, weight decay 1e-5; biases and
BatchNorm parameters excluded). 100 epochs take a few hours on one GPU;
the published recipes train for 1,000.
"""

TINY = os.environ.get("SEMPPL_EXAMPLE_TINY", "0") == "1"


setting = ScriptSettings(small=TINY)  # setting(NAME, full, small); SEMPPL_NAME overrides


NUM_CLASSES = setting("NUM_CLASSES", 10, 3)  # keep the first N classes (by name)
IMAGES_PER_CLASS = setting("IMAGES_PER_CLASS", 0, 30)  # 0: all 5,000
LABELS_PER_CLASS = setting("LABELS_PER_CLASS", 400, 4)
VAL_FRACTION = setting("VAL_FRACTION", 0.1, 0.2)
IMAGE_SIZE = setting("IMAGE_SIZE", 32, 32)
SMALL_IMAGE_SIZE = setting("SMALL_IMAGE_SIZE", 16, 16)
NUM_LARGE_VIEWS = setting("NUM_LARGE_VIEWS", 4, 2)
NUM_SMALL_VIEWS = setting("NUM_SMALL_VIEWS", 2, 1)
BATCH_SIZE = setting("BATCH_SIZE", 256, 16)
LABELLED_PER_BATCH = setting("LABELLED_PER_BATCH", 64, 4)
EPOCHS = setting("EPOCHS", 100, 1)
STEPS_PER_EPOCH = setting("STEPS_PER_EPOCH", 0, 2)  # 0: one pass over the unlabelled images
WARMUP_EPOCHS = setting("WARMUP_EPOCHS", 10, 0)
WIDTH_MULTIPLIER = setting("WIDTH_MULTIPLIER", 1.0, 0.125)
HEAD_HIDDEN_DIM = setting("HEAD_HIDDEN_DIM", 4096, 64)
PROJECTION_DIM = setting("PROJECTION_DIM", 256, 32)
QUEUE_SIZE = setting("QUEUE_SIZE", 2560, 64)
BASE_LEARNING_RATE = setting("BASE_LEARNING_RATE", 1.0, 1.0)
LARS_ETA = setting("LARS_ETA", 0.02, 0.02)
WEIGHT_DECAY = setting("WEIGHT_DECAY", 1e-5, 1e-5)
KNN_K = setting("KNN_K", 20, 5)
SEED = setting("SEED", 0, 0)

# Where the images come from: an extracted folder root/<class>/<image>
# (SEMPPL_CIFAR_ROOT), or a JPEG tarball with `train/<class>/<image>.jpg`
# inside (SEMPPL_CIFAR_TAR), extracted to a temporary folder. With neither
# set (e.g. on Colab), CIFAR-10 is downloaded with `keras.datasets.cifar10`
# and written out as such a folder.
CIFAR_ROOT = os.environ.get("SEMPPL_CIFAR_ROOT")
CIFAR_TAR = os.environ.get("SEMPPL_CIFAR_TAR")
OUTPUT_DIR = pathlib.Path(os.environ.get("SEMPPL_OUTPUT_DIR", "cifar10_semppl_output"))

keras.utils.set_random_seed(SEED)

"""
## The data: CIFAR-10 as an image folder

`load_image_folder` reads `root/<class>/<image>` (classes are the sub-folders
sorted by name), holds out a stratified validation split, and keeps the
labels of `labels_per_class` training images per class; the other training
images get label -1 (their true labels are kept aside, only to report how
good the pseudo-labels are).

The helpers below bring the images into that layout. Only the classes and
images the configuration asks for are extracted.
"""


CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")


def extract_cifar_tar(tar_path, destination, num_classes, images_per_class):
    """Extracts train/<class>/<image> of the first `num_classes` classes (by name).

    With `images_per_class` > 0 only the first that many files of each class
    in the archive are written, and reading stops once all are found.
    """
    wanted = {name: 0 for name in sorted(CIFAR10_CLASSES)[:num_classes]}
    with tarfile.open(tar_path, "r|gz") as tar:  # streamed: no index of 50,000 entries
        for member in tar:
            parts = pathlib.PurePosixPath(member.name).parts
            if not member.isfile() or len(parts) != 3 or parts[1] not in wanted:
                continue
            if images_per_class and wanted[parts[1]] >= images_per_class:
                if all(count >= images_per_class for count in wanted.values()):
                    break
                continue
            folder = pathlib.Path(destination, parts[1])
            folder.mkdir(parents=True, exist_ok=True)
            (folder / parts[2]).write_bytes(tar.extractfile(member).read())
            wanted[parts[1]] += 1
    return destination


def download_cifar_folder(destination, num_classes, images_per_class):
    """Writes CIFAR-10's training set (downloaded by Keras) as PNG files."""
    from PIL import Image

    (images, labels), _ = keras.datasets.cifar10.load_data()
    labels = labels.reshape(-1)
    for name in sorted(CIFAR10_CLASSES)[:num_classes]:
        index = np.flatnonzero(labels == CIFAR10_CLASSES.index(name))
        if images_per_class:
            index = index[:images_per_class]
        folder = pathlib.Path(destination, name)
        folder.mkdir(parents=True, exist_ok=True)
        for i in index:
            Image.fromarray(images[i]).save(folder / f"{i:05d}.png")
    return destination


def load_cifar10():
    """CIFAR-10 as `SourceArrays` (images float32 in [0, 1], labels -1 = hidden)."""
    options = dict(labels_per_class=LABELS_PER_CLASS, val_fraction=VAL_FRACTION,
                   image_size=IMAGE_SIZE, seed=SEED)
    if CIFAR_ROOT:
        return load_image_folder(CIFAR_ROOT, **options)
    # The images are held in memory once loaded, so the folder can go.
    with tempfile.TemporaryDirectory(prefix="cifar10-") as tmp:
        if CIFAR_TAR:
            if not os.path.exists(CIFAR_TAR):
                raise FileNotFoundError(f"SEMPPL_CIFAR_TAR={CIFAR_TAR!r} does not exist.")
            root = extract_cifar_tar(CIFAR_TAR, tmp, NUM_CLASSES, IMAGES_PER_CLASS)
        else:
            print("Downloading CIFAR-10 with keras.datasets.")
            root = download_cifar_folder(tmp, NUM_CLASSES, IMAGES_PER_CLASS)
        return load_image_folder(root, **options)


start = time.time()
data = load_cifar10()
print(data.summary())
print(f"loaded in {time.time() - start:.1f} s")

"""
## Views and the training dataset

Each image gets `NUM_LARGE_VIEWS` large and `NUM_SMALL_VIEWS` small views
with BYOL's augmentations (random resized crop, flip, colour jitter,
grayscale, blur, solarize; views alternate between BYOL's two asymmetric
settings), from the "cifar" preset: Keras preprocessing layers, with the blur
off at 32 px. `make_training_dataset` puts exactly `LABELLED_PER_BATCH`
labelled images in every batch (the few labelled images are oversampled);
one epoch is one pass over the unlabelled images.
"""

view_fn = make_view_fn(
    view_preset("cifar", num_large=NUM_LARGE_VIEWS, num_small=NUM_SMALL_VIEWS,
                large_size=IMAGE_SIZE, small_size=SMALL_IMAGE_SIZE),
    seed=SEED,
)
OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
show(plot_views(data.images[0], view_fn, str(OUTPUT_DIR / "views.png"), num_draws=6))
dataset = make_training_dataset(
    data.images, data.labels, BATCH_SIZE, view_fn,
    true_labels=data.true_labels, labelled_per_batch=LABELLED_PER_BATCH,
    num_classes=data.num_classes, seed=SEED,
)
steps_per_epoch = int(dataset.cardinality())
if STEPS_PER_EPOCH:
    steps_per_epoch = min(steps_per_epoch, STEPS_PER_EPOCH)
    dataset = dataset.take(steps_per_epoch)
total_steps = EPOCHS * steps_per_epoch
print(f"{steps_per_epoch} steps per epoch, {total_steps} in all")

"""
## The model

A ResNet-18 with the CIFAR stem (a 3x3 convolution, no max-pool) is the
encoder. Its input height and width are `None` so that the same network
sees the large and the small views. `SemPPL` adds the projector and
predictor MLPs, the EMA target network and the queue of labelled target
projections; the EMA follows BYOL's cosine schedule over `total_steps`.
`online_probe=True` adds BYOL's online linear classifier on stop-gradient
features: a monitor that never changes the encoder.
"""

encoder = resnet18(input_shape=(None, None, 3), stem="cifar",
                   width_multiplier=WIDTH_MULTIPLIER)
model = SemPPL(
    encoder,
    num_classes=data.num_classes,
    num_large_views=NUM_LARGE_VIEWS,
    num_small_views=NUM_SMALL_VIEWS,
    projector_hidden_dim=HEAD_HIDDEN_DIM,
    projection_dim=PROJECTION_DIM,
    predictor_hidden_dim=HEAD_HIDDEN_DIM,
    queue_size=QUEUE_SIZE,
    target_decay_steps=total_steps,
    online_probe=True,
    seed=SEED,
)

"""
## The optimizer

LARS scales each layer's update by the ratio of its weight norm to its
update norm; `exclude_rank1=True` (the default) leaves biases and BatchNorm
parameters out of both the weight decay and that scaling.
"""

peak_learning_rate = BASE_LEARNING_RATE * BATCH_SIZE / 256
schedule = WarmupCosineDecay(
    peak_learning_rate, total_steps,
    warmup_steps=min(WARMUP_EPOCHS * steps_per_epoch, total_steps),
)
model.compile(optimizer=LARS(schedule, momentum=0.9, eta=LARS_ETA,
                             weight_decay=WEIGHT_DECAY))

"""
## Training

The progress bar shows the loss and its terms (`l_augm`, `l_sempos`,
`i_augm`, `i_sempos`), `pseudo_label_accuracy`: how often the k-NN
pseudo-label of an unlabelled image matches its hidden true label, and
`probe_accuracy`: the online probe's accuracy on those same images.
"""

start = time.time()
history = model.fit(dataset, epochs=EPOCHS, verbose=2 if TINY else "auto")
fit_seconds = time.time() - start
print(f"trained in {fit_seconds:.1f} s")
show(plot_training_curves(history.history, str(OUTPUT_DIR / "training_curves.png")))

"""
## Evaluation: k-NN on the frozen encoder

The labelled training images are the reference set; each validation image
takes the weighted vote of its `KNN_K` most similar references (cosine
similarity, weights exp(similarity / 0.07)). For context, the same
architecture with random weights is scored the same way.
"""


def knn_accuracy(encoder):
    labelled = data.labels >= 0
    reference = embed_images(encoder, data.images[labelled])
    queries = embed_images(encoder, data.val_images)
    predictions = knn_classify(reference, data.labels[labelled], queries,
                               data.num_classes, k=KNN_K)
    return float(np.mean(predictions == data.val_labels))


trained_encoder = model.extract_encoder()
accuracy = knn_accuracy(trained_encoder)
random_accuracy = knn_accuracy(
    resnet18(input_shape=(None, None, 3), stem="cifar", width_multiplier=WIDTH_MULTIPLIER))
print(f"k-NN accuracy on {len(data.val_labels)} validation images: {accuracy:.3f} "
      f"(random encoder: {random_accuracy:.3f}, chance: {1 / data.num_classes:.3f})")

"""
The validation images' embeddings, mapped to 2-D with t-SNE and coloured by
their true class: classes the encoder separates form their own clusters.
"""

show(plot_embedding_map(embed_images(trained_encoder, data.val_images), data.val_labels,
                        str(OUTPUT_DIR / "tsne.png"),
                        class_names=list(getattr(data, "class_names", ()) or ()) or None))

"""
## Saving

`model.save` keeps the online and target networks, the queue and the
optimizer state, so training can resume. The encoder alone is a plain
`keras.Model` (images -> features) for downstream use.
"""

OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
model.save(OUTPUT_DIR / "cifar10_semppl.keras")
trained_encoder.save(OUTPUT_DIR / "cifar10_encoder.keras")

reloaded = keras.saving.load_model(OUTPUT_DIR / "cifar10_encoder.keras")
sample = data.val_images[:4]
np.testing.assert_allclose(embed_images(reloaded, sample),
                           embed_images(trained_encoder, sample), rtol=1e-4, atol=1e-4)

summary = {
    "backend": keras.backend.backend(),
    "knn_accuracy": round(accuracy, 4),
    "random_encoder_knn_accuracy": round(random_accuracy, 4),
    "final_pseudo_label_accuracy": round(float(history.history["pseudo_label_accuracy"][-1]), 4),
    "final_probe_accuracy": round(float(history.history["probe_accuracy"][-1]), 4),
    "epochs": EPOCHS,
    "fit_seconds": round(fit_seconds, 1),
    "saved": str(OUTPUT_DIR),
}
print(json.dumps(summary))

"""
## What next

- Train longer (`SEMPPL_EPOCHS=1000` is the length of the published CIFAR
  recipes) and with all 10 classes; watch `pseudo_label_accuracy` rise.
- Fine-tune or linear-probe the saved encoder on the labelled images.
- `examples/imagenet_semppl.py` has the paper's ImageNet recipe and
  `examples/image_folder_semppl.py` runs the same steps on your own images.
"""

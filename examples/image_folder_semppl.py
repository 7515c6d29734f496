"""
Title: SemPPL on your own image folder
Author: keras-semppl
Date created: 2026/11/29
Last modified: 2026/11/29
Description: Semi-supervised training from root/<class>/<image> plus an optional folder of unlabelled images.
Accelerator: GPU
"""

"""
## Introduction

Bring your own images:

```
my_images/
  cat/      0001.jpg 0002.png ...   <- labelled examples, one folder per class
  dog/      ...
my_unlabelled/ a.jpg b.jpg ...      <- optional: images without a class
```

```bash
KERAS_BACKEND=jax python examples/image_folder_semppl.py my_images my_unlabelled
```

`load_image_folder` keeps `LABELS_PER_CLASS` labels per class (0: all of
them) and hides the rest; with an unlabelled folder those images join the
unlabelled pool. A stratified `VAL_FRACTION` of every class is held out for
the k-NN evaluation. Without arguments the example writes a small synthetic
folder (coloured shapes) and trains on that, so it runs anywhere.

Sizes are top-level constants, overridden by `SEMPPL_<NAME>` environment
variables; `SEMPPL_EXAMPLE_TINY=1` makes everything tiny (the tests use it).
"""

"""
## Setup
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")  # or "tensorflow", "torch"

import json
import pathlib
import sys
import tempfile

import keras
import numpy as np

from keras_semppl.augment import byol_view_configs
from keras_semppl.augment import make_view_fn
from keras_semppl.data import make_training_dataset
from keras_semppl.data.image_folder import load_image_folder
from keras_semppl.encoders import resnet18
from keras_semppl.encoders import resnet50
from keras_semppl.encoders import small_convnet
from keras_semppl.evaluation import embed_images
from keras_semppl.evaluation import knn_classify
from keras_semppl.io import save_model
from keras_semppl.models import SemPPL
from keras_semppl.script_settings import ScriptSettings
from keras_semppl.schedules import WarmupCosineDecay

TINY = os.environ.get("SEMPPL_EXAMPLE_TINY", "0") == "1"


setting = ScriptSettings(small=TINY)  # setting(NAME, full, small); SEMPPL_NAME overrides


IMAGE_SIZE = setting("IMAGE_SIZE", 64, 24)  # every image is resized to this
LABELS_PER_CLASS = setting("LABELS_PER_CLASS", 0, 4)  # 0: keep every label
VAL_FRACTION = setting("VAL_FRACTION", 0.1, 0.25)
NUM_LARGE_VIEWS = setting("NUM_LARGE_VIEWS", 2, 2)
BATCH_SIZE = setting("BATCH_SIZE", 128, 16)
LABELLED_PER_BATCH = setting("LABELLED_PER_BATCH", 32, 4)
EPOCHS = setting("EPOCHS", 50, 1)
STEPS_PER_EPOCH = setting("STEPS_PER_EPOCH", 0, 2)  # 0: one pass over the unlabelled images
# "resnet18" (CIFAR stem, for small images), "resnet50" (ImageNet stem, for
# 160 px and more) or "small_convnet" (quick on a CPU).
ENCODER = setting("ENCODER", "resnet18", "small_convnet")
QUEUE_SIZE = setting("QUEUE_SIZE", 1024, 64)
HEAD_HIDDEN_DIM = setting("HEAD_HIDDEN_DIM", 1024, 32)
PROJECTION_DIM = setting("PROJECTION_DIM", 128, 16)
LEARNING_RATE = setting("LEARNING_RATE", 1e-3, 1e-3)
SEED = setting("SEED", 0, 0)
OUTPUT_DIR = pathlib.Path(os.environ.get("SEMPPL_OUTPUT_DIR", "image_folder_semppl_output"))

keras.utils.set_random_seed(SEED)

"""
## The folders

Command-line arguments (or `SEMPPL_IMAGE_ROOT` / `SEMPPL_UNLABELLED_DIR`)
name the folders. The demo folder has three classes of shapes (disc,
square, stripes) in random colours, and an unlabelled folder of the same.
"""


def write_demo_folder(destination, per_class=24, unlabelled=24, size=32):
    """root/<shape>/<n>.png and unlabelled/<n>.png; returns (root, unlabelled dir)."""
    from PIL import Image

    rng = np.random.default_rng(SEED)
    yy, xx = np.mgrid[:size, :size] / size
    masks = {"disc": (yy - 0.5) ** 2 + (xx - 0.5) ** 2 < 0.1,
             "square": (abs(yy - 0.5) < 0.3) & (abs(xx - 0.5) < 0.3),
             "stripes": (xx * 6).astype(int) % 2 == 0}

    def draw(mask):
        image = np.empty((size, size, 3))
        image[:] = rng.uniform(0, 0.4, 3)
        image[mask] = rng.uniform(0.6, 1.0, 3)
        return Image.fromarray((image * 255).astype(np.uint8))

    root = pathlib.Path(destination, "labelled")
    for name, mask in masks.items():
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            draw(mask).save(root / name / f"{i:03d}.png")
    extra = pathlib.Path(destination, "unlabelled")
    extra.mkdir()
    for i in range(unlabelled):
        draw(list(masks.values())[i % len(masks)]).save(extra / f"{i:03d}.png")
    return root, extra


args = [a for a in sys.argv[1:] if not a.startswith("-")] if __name__ == "__main__" else []
root = args[0] if args else os.environ.get("SEMPPL_IMAGE_ROOT")
unlabelled_dir = args[1] if len(args) > 1 else os.environ.get("SEMPPL_UNLABELLED_DIR")
demo_dir = None
if root is None:
    demo_dir = tempfile.TemporaryDirectory(prefix="semppl-demo-")
    root, unlabelled_dir = write_demo_folder(demo_dir.name)
    print(f"No image folder given: training on a synthetic demo folder {root}.")

data = load_image_folder(
    root, unlabelled_dir=unlabelled_dir, image_size=IMAGE_SIZE, val_fraction=VAL_FRACTION,
    labels_per_class=LABELS_PER_CLASS or None, seed=SEED)
print(data.summary())

"""
## Views, dataset, model

Two BYOL views per image at the working size. The encoder is chosen from an
explicit table; any `keras.Model` from images to a feature vector works.
"""

view_fn = make_view_fn(byol_view_configs(num_large=NUM_LARGE_VIEWS, large_size=IMAGE_SIZE),
                       seed=SEED)
dataset = make_training_dataset(
    data.images, data.labels, BATCH_SIZE, view_fn, true_labels=data.true_labels,
    labelled_per_batch=LABELLED_PER_BATCH, num_classes=data.num_classes, seed=SEED)
steps_per_epoch = int(dataset.cardinality())
if STEPS_PER_EPOCH:
    steps_per_epoch = min(steps_per_epoch, STEPS_PER_EPOCH)
    dataset = dataset.take(steps_per_epoch)
total_steps = EPOCHS * steps_per_epoch

input_shape = (IMAGE_SIZE, IMAGE_SIZE, data.images.shape[-1])
ENCODERS = {
    "resnet18": lambda: resnet18(input_shape=input_shape, stem="cifar"),
    "resnet50": lambda: resnet50(input_shape=input_shape, stem="imagenet"),
    "small_convnet": lambda: small_convnet(input_shape, widths=(16, 32, 64)),
}
if ENCODER not in ENCODERS:
    raise ValueError(f"SEMPPL_ENCODER must be one of {sorted(ENCODERS)}; got {ENCODER!r}.")
model = SemPPL(
    ENCODERS[ENCODER](),
    num_classes=data.num_classes,
    num_large_views=NUM_LARGE_VIEWS,
    projector_hidden_dim=HEAD_HIDDEN_DIM,
    projection_dim=PROJECTION_DIM,
    predictor_hidden_dim=HEAD_HIDDEN_DIM,
    queue_size=QUEUE_SIZE,
    target_decay_steps=total_steps,
    seed=SEED,
)

"""
## Training

AdamW with a warm-up and a cosine decay is the robust choice for small
data sets and batches; `examples/cifar10_semppl.py` shows LARS.
"""

schedule = WarmupCosineDecay(LEARNING_RATE, total_steps,
                             warmup_steps=min(2 * steps_per_epoch, total_steps))
model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=1e-4))
history = model.fit(dataset, epochs=EPOCHS, verbose=2 if TINY else "auto")

"""
## Evaluation and saving

k-NN on the held-out images against the labelled training images.
"""

encoder = model.extract_encoder()
labelled = data.labels >= 0
predictions = knn_classify(
    embed_images(encoder, data.images[labelled]), data.labels[labelled],
    embed_images(encoder, data.val_images), data.num_classes, k=20)
accuracy = float(np.mean(predictions == data.val_labels))
print(f"k-NN accuracy on {len(data.val_labels)} held-out images: {accuracy:.3f}")

OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
save_model(model, OUTPUT_DIR / "semppl.keras")  # atomic: never a half-written file
save_model(encoder, OUTPUT_DIR / "encoder.keras")
if demo_dir is not None:
    demo_dir.cleanup()
print(json.dumps({"backend": keras.backend.backend(), "classes": list(data.class_names),
                  "knn_accuracy": round(accuracy, 4),
                  "final_loss": round(float(history.history["loss"][-1]), 4),
                  "saved": str(OUTPUT_DIR)}))

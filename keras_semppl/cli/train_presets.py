"""Named presets of `semppl train`: a set of flag values, each overridable.

``semppl train --preset NAME`` fills in the preset's values for every flag
the user did not give; an explicit flag always wins (`apply_preset`).
Imports no Keras (see `keras_semppl.cli.train_plan`).

"cifar10-gpu": SemPPL on CIFAR-10 at 1 % labels, sized for a 9-minute run
on one H100/H200-class GPU.

- Data: TFDS ``cifar10`` (or ``--dataset folder:PATH``, resized to 32 px),
  50 labels per class, 500 of the 50,000 training images: the 1 % regime of
  the paper's headline table, applied to CIFAR-10.
- Encoder: ResNet-18 at full width (512 features) with the CIFAR stem: a
  3x3 stride-1 first convolution and no max-pool (SimCLR, Chen et al. 2020,
  appendix B.9).
- Views: the "cifar" view preset, 4 large views of 32 px and 2 small views
  of 16 px (MAE-CT_SemPPL's CIFAR setting), BYOL's augmentation parameters
  with the blur off at 32 px (SimCLR appendix B.9;
  `keras_semppl.augment.presets`). They are augmented inside the compiled
  step (``--augment-on device``): see the input-pipeline estimate below.
- Heads: BYOL's 4096-wide projector and predictor, 256-d embeddings.
- Queue: 2,560 slots per large view (MAE-CT_SemPPL at CIFAR scale); the
  other SemPPL settings are the model's defaults (k=1, 10 negatives, 3
  semantic positives, temperature 0.15, EMA tau_base 0.99 for short runs).
- Batch 512 with 128 labelled examples in each (one in four, as the CLI's
  default 32 of 128), AdamW at a peak learning rate of 3e-3: the CIFAR-10
  benchmark's 2e-3 at batch 256 (`benchmarks/cifar10_quality.py`) times
  sqrt(512 / 256), the square-root rule for Adam (Malladi et al. 2022),
  rounded. Warm-up 2 epochs, then cosine (the CLI's schedule).
- Precision: ``--precision auto``, which picks bfloat16 on an NVIDIA GPU of
  compute capability 8.0 or newer (`keras_semppl.precision`).
- No supervised baseline and no raw-pixel baselines (``--baseline`` and
  ``--classical`` bring them back): the baseline trains as many steps again,
  and LabelSpreading over 50,000 raw images is a long CPU job.

Why 16 epochs (an estimate, not a measurement: no GPU was available where
the preset was written):

- Work per training image. ResNet-18 with the CIFAR stem costs 555.4 M
  multiply-adds per 32 px view and 138.9 M per 16 px view (counted from the
  model's convolutions; 1 multiply-add = 2 FLOPs). Backward costs about twice
  the forward, so the online network costs 3 x (4 x 555.4 + 2 x 138.9) =
  7,498 M multiply-adds and the target network (forward, large views only)
  4 x 555.4 = 2,222 M; the heads add about 107 M. Total 9.83 G multiply-adds
  = 19.7 GFLOP per image, 10.1 TFLOP per step of 512 images.
- Assumed sustained rate: 80 TFLOP/s in bfloat16, 8 % of an H100 SXM's
  dense bfloat16 peak (989 TFLOP/s; the H200 has the same tensor cores).
  That gives about 0.126 s per step, 4,070 images per second.
- Input pipeline (measured on 2 CPU cores shared with other jobs, load about
  7, batch 512, 4 + 2 views): with the views augmented on the host, tf.data
  delivered 726 images/s, so feeding 4,070 images/s would need more than 11
  such cores; with ``--augment-on device`` the host only batches the source
  images: 13,900 images/s, 3.4 times what the GPU is assumed to consume.
- Steps: an epoch is one pass over the 49,500 unlabelled images, 384 per
  step: 128 steps. 16 epochs = 2,048 steps = 258 s = 4.3 min of training.
- The rest of the run (assumed): start-up and loading CIFAR-10 about 0.5 min,
  compiling the step about 1 min, the held-out report and saving about
  0.5 min. About 6.3 min in all; the 7 minutes of training that the 9-minute
  budget allows hold down to a sustained 49 TFLOP/s (5 % of the peak).

The run measures its own step time after a few warm-up steps and prints
``projected: N steps x S s = M min``, with a warning when M exceeds the
preset's training budget (`keras_semppl.callbacks.StepTimeProjection`).
"""

import argparse
import dataclasses
from typing import Mapping


@dataclasses.dataclass(frozen=True)
class TrainPreset:
    """A named set of `semppl train` flag values.

    Attributes:
        name: what ``--preset`` takes.
        flags: argparse destination -> value, e.g. ``{"epochs": 16}``.
        budget_minutes: the wall time the whole run was sized for.
        training_minutes: the part of it left for the training steps (the
            projection printed after the warm-up steps is compared with it).
        summary: one line for ``--help``.
    """

    name: str
    flags: Mapping[str, object]
    budget_minutes: float
    training_minutes: float
    summary: str


CIFAR10_GPU = TrainPreset(
    name="cifar10-gpu",
    flags=dict(
        dataset="cifar10",
        image_size=32,
        labels_per_class=50,
        encoder="resnet18",
        views_preset="cifar",
        augment_on="device",
        hidden_dim=4096,
        projection_dim=256,
        queue_size=2560,
        batch_size=512,
        labelled_per_batch=128,
        learning_rate=3e-3,
        epochs=16,
        baseline=False,
        classical=False,
    ),
    budget_minutes=9.0,
    training_minutes=7.0,
    summary="CIFAR-10, 50 labels per class, ResNet-18 (CIFAR stem), 4 x 32 px + "
            "2 x 16 px views augmented on the device, batch 512, 16 epochs, no "
            "baselines: about 9 minutes on one H100-class GPU (estimated)",
)

#: name -> `TrainPreset`.
PRESETS = {preset.name: preset for preset in (CIFAR10_GPU,)}

#: Flags that replace each other: a user value for one drops the preset's
#: values for all (a preset's --labels-per-class yields to --label-fraction).
EXCLUSIVE_GROUPS = (("label_fraction", "labels_per_class"),)


def train_preset(name):
    """The `TrainPreset` called ``name``; ValueError listing the known ones."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known presets: "
                         f"{', '.join(sorted(PRESETS))}.")
    return PRESETS[name]


def preset_fills(args, preset):
    """The destinations whose value ``preset`` supplies: those the user left
    out (None), less the exclusive groups the user set a member of."""
    values = vars(args)
    given = {name for name, value in values.items() if value is not None}
    blocked = set()
    for group in EXCLUSIVE_GROUPS:
        if given.intersection(group):
            blocked.update(group)
    return {name for name in preset.flags if name not in given and name not in blocked}


def apply_preset(args, defaults, preset=None):
    """The arguments with the preset's values, then ``defaults``, filled in.

    A flag counts as given when its parsed value is not None (the flags a
    preset may set have None as their argparse default).

    Args:
        args: the parsed `argparse.Namespace` (left unchanged).
        defaults: destination -> built-in value, for flags still None.
        preset: a `TrainPreset`, or None.

    Returns:
        A new `argparse.Namespace`.
    """
    values = dict(vars(args))
    if preset is not None:
        for name in preset_fills(args, preset):
            values[name] = preset.flags[name]
    for name, value in defaults.items():
        if values.get(name) is None:
            values[name] = value
    return argparse.Namespace(**values)

"""One string picks the data: digits, an image folder or a TFDS set.

The one router for training, evaluation and plots. Accepted specs:
  - "digits": scikit-learn's bundled digits (`load_digits`, no download);
  - "folder:PATH": an image folder `PATH/<class>/<image>` (`load_image_folder`);
  - "tfds:NAME" or a bare TFDS name such as "cifar10", "stl10",
    "imagenette/160px-v2" (`load_tfds`, never downloads).

The held-out set is the data set's own test/validation split where it has
one (`EVAL_SPLITS`), else a stratified ``val_fraction`` of the labelled pool.
"""

import re

from keras_semppl.data.arrays import HOLDOUTS
from keras_semppl.data.arrays import carve_validation
from keras_semppl.data.digits import load_digits
from keras_semppl.data.image_folder import load_image_folder
from keras_semppl.data.tfds_source import EVAL_SPLITS
from keras_semppl.data.tfds_source import TFDS_EXTRA
from keras_semppl.data.tfds_source import _tfds
from keras_semppl.data.tfds_source import load_tfds

ACCEPTED_FORMS = ('"digits"', '"folder:PATH"', '"tfds:NAME"',
                  'a TFDS name such as "cifar10", "cifar100", "stl10" or '
                  '"imagenette/160px-v2"')
_TFDS_NAME = re.compile(r"^[a-z][a-z0-9_]*(/[A-Za-z0-9_.\-]+)?(:[0-9.*]+)?$")
_STREAM_ONLY = ("imagenet2012", "imagenet2012_subset")


def _unknown(spec, why=""):
    return ValueError(
        f"Unknown data set spec {spec!r}{why}. Accepted forms: "
        + ", ".join(ACCEPTED_FORMS) + ".")


def _base_name(name):
    return name.split("/")[0].split(":")[0]


def _tfds_builder_known(spec, name):
    """Whether TFDS has a builder ``name``; ValueError naming the extra without TFDS."""
    try:
        tfds = _tfds()
    except ImportError as error:
        if getattr(error, "name", None) != "tensorflow_datasets":
            raise
        raise ValueError(
            f"{spec!r} is not \"digits\" or \"folder:PATH\", so it would name a TFDS data "
            f"set, and those need tensorflow-datasets, which is not installed: "
            f"{TFDS_EXTRA}.") from None
    return _base_name(name) in set(tfds.list_builders())


def resolve_dataset(spec, data_dir=None, image_size=None, label_fraction=None,
                    labels_per_class=None, seed=0, val_fraction=0.1, unlabelled_dir=None,
                    skip_corrupt=False, holdout="test"):
    """Loads the data set named by `spec` as `SemiSupervisedArrays`.

    Args:
        spec: see the module docstring.
        data_dir: TFDS data directory (TFDS sources only; None: TFDS default).
        image_size: int or (height, width) for folders and TFDS; for digits
            an int or a square pair (default 32). None: the source's natural
            size.
        label_fraction, labels_per_class: label budget. For digits with
            neither given, `load_digits`'s default (10%); elsewhere, all
            labels are kept.
        seed: seeds the splits.
        val_fraction: stratified share of labelled data held out, for
            sources without their own held-out split.
        unlabelled_dir: an extra folder of unlabelled images (folders only).
        skip_corrupt: skip undecodable image files instead of failing
            (folders only).
        holdout: "test" scores on the held-out split above; "validation"
            drops it and carves `val_fraction` of the unlabelled training
            images of every class instead (`carve_validation`), the split
            to choose settings on without seeing the test images.

    Returns:
        `SemiSupervisedArrays` (a `SourceArrays` for folders and TFDS) with
        images float32 (N, H, W, C) in [0, 1].

    Raises:
        ValueError: unknown spec (listing the accepted forms), an argument
            the source does not take, or any error of the chosen loader.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise _unknown(spec)
    if holdout not in HOLDOUTS:
        raise ValueError(f"holdout must be one of {HOLDOUTS}; got {holdout!r}.")
    spec = spec.strip()
    data = _load(spec, data_dir, image_size, label_fraction, labels_per_class, seed,
                 val_fraction, unlabelled_dir, skip_corrupt, holdout)
    if holdout == "validation" and spec != "digits":  # digits carves its own
        data = carve_validation(data, val_fraction, seed=(seed, 2))
    return data


def _load(spec, data_dir, image_size, label_fraction, labels_per_class, seed,
          val_fraction, unlabelled_dir, skip_corrupt, holdout):
    if unlabelled_dir is not None and not spec.startswith("folder:"):
        raise ValueError(f"unlabelled_dir needs a folder:PATH data set; got {spec!r}.")
    if skip_corrupt and not spec.startswith("folder:"):
        raise ValueError(f"skip_corrupt needs a folder:PATH data set; got {spec!r}.")
    if spec == "digits":
        if isinstance(image_size, (tuple, list)):
            if len(set(image_size)) != 1:
                raise ValueError(f"digits images are square; got image_size={image_size!r}.")
            image_size = image_size[0]
        kwargs = {} if label_fraction is None else {"label_fraction": label_fraction}
        return load_digits(image_size=32 if image_size is None else image_size,
                           val_fraction=val_fraction, labels_per_class=labels_per_class,
                           seed=seed, holdout=holdout, **kwargs)
    if spec.startswith("folder:"):
        path = spec[len("folder:"):]
        if not path:
            raise _unknown(spec, " (empty folder path)")
        return load_image_folder(path, unlabelled_dir=unlabelled_dir, image_size=image_size,
                                 val_fraction=val_fraction, label_fraction=label_fraction,
                                 labels_per_class=labels_per_class, seed=seed,
                                 skip_corrupt=skip_corrupt)
    name = spec[len("tfds:"):] if spec.startswith("tfds:") else spec
    if not _TFDS_NAME.match(name) or not _tfds_builder_known(spec, name):
        raise _unknown(spec)
    if _base_name(name) in _STREAM_ONLY:
        raise ValueError(
            f"{spec!r} is too large to hold in memory; use "
            "keras_semppl.data.tfds_source.tfds_imagenet_subset for ImageNet.")
    held_out = EVAL_SPLITS.get(_base_name(name))
    split_kwargs = {"val_fraction": val_fraction} if held_out is None else {"val_split": held_out}
    return load_tfds(name, data_dir, image_size=image_size, label_fraction=label_fraction,
                     labels_per_class=labels_per_class, seed=seed, **split_kwargs)

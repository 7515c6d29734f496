"""A few CIFAR-10-like JPEGs per class, as an image folder for tests.

Real CIFAR-10 JPEGs come from ``cifar10-jpeg/train.tar.gz`` in the folder
named by $SEMPPL_SHARED_DATA, or in ``shared/data`` beside the repository,
when either exists. Without the archive the folder is filled with generated
32x32 JPEGs (a class colour plus noise), so the tests that use it run on a
fresh clone too: they check loading, budgets and the command line, not
CIFAR-10 itself.
"""

import os
import pathlib
import tarfile

import numpy as np

SIZE = 32


def cifar_archive():
    """Path of the CIFAR-10 JPEG archive, or None when there is none."""
    repo = pathlib.Path(__file__).resolve().parents[1]
    candidates = []
    if os.environ.get("SEMPPL_SHARED_DATA"):
        candidates.append(pathlib.Path(os.environ["SEMPPL_SHARED_DATA"])
                          / "cifar10-jpeg" / "train.tar.gz")
    candidates.append(repo.parent / "shared" / "data" / "cifar10-jpeg" / "train.tar.gz")
    for path in candidates:
        if path.is_file():
            return path
    return None


def _extract(archive, root, classes, per_class):
    """Streams ``archive`` and stops as soon as every class is full."""
    wanted = dict.fromkeys(classes, 0)
    with tarfile.open(archive, "r|gz") as tar:
        for member in tar:
            parts = member.name.split("/")
            if not member.isfile() or len(parts) != 3 or parts[1] not in wanted:
                continue
            if wanted[parts[1]] >= per_class:
                if all(n >= per_class for n in wanted.values()):
                    break
                continue
            (root / parts[1]).mkdir(parents=True, exist_ok=True)
            (root / parts[1] / parts[2]).write_bytes(tar.extractfile(member).read())
            wanted[parts[1]] += 1
    assert all(n == per_class for n in wanted.values()), wanted


def _generate(root, classes, per_class, seed=0):
    """root/<class>/<NNNN>.jpg: SIZE x SIZE RGB, a class colour plus noise."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        colour = rng.integers(40, 216, 3)
        for i in range(per_class):
            noise = rng.normal(0.0, 30.0, (SIZE, SIZE, 3))
            pixels = np.clip(colour + noise, 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{c}{i:04d}.jpg", quality=90)


def generate_cifar_like(root, classes, per_class, seed=0):
    """Writes generated root/<class>/<file>.jpg (no archive needed); returns root."""
    root = pathlib.Path(root)
    _generate(root, classes, per_class, seed=seed)
    return root


def extract_cifar_slice(root, classes, per_class):
    """Writes root/<class>/<file>.jpg, ``per_class`` JPEGs of each class; returns root."""
    root = pathlib.Path(root)
    archive = cifar_archive()
    if archive is None:
        _generate(root, classes, per_class)
    else:
        _extract(archive, root, classes, per_class)
    return root

"""A few CIFAR-10 JPEGs per class from ../shared/data, as an image folder for tests."""

import os
import pathlib
import tarfile

import pytest


def cifar_archive():
    """Path of ../shared/data/cifar10-jpeg/train.tar.gz (or $SEMPPL_SHARED_DATA's)."""
    repo = pathlib.Path(__file__).resolve().parents[1]
    candidates = [repo.parent / "shared" / "data" / "cifar10-jpeg" / "train.tar.gz"]
    if os.environ.get("SEMPPL_SHARED_DATA"):
        candidates.append(pathlib.Path(os.environ["SEMPPL_SHARED_DATA"])
                          / "cifar10-jpeg" / "train.tar.gz")
    for path in candidates:
        if path.is_file():
            return path
    pytest.fail("CIFAR-10 JPEG archive not found; looked at "
                + ", ".join(map(str, candidates))
                + " (set SEMPPL_SHARED_DATA to the folder holding cifar10-jpeg/).")


def extract_cifar_slice(root, classes, per_class):
    """Writes root/<class>/<file>.jpg, ``per_class`` JPEGs of each class; returns root.

    The archive is streamed and left as soon as every class is full.
    """
    root = pathlib.Path(root)
    wanted = dict.fromkeys(classes, 0)
    with tarfile.open(cifar_archive(), "r|gz") as tar:
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
    return root

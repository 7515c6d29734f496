"""Builds the CIFAR-10 archive the CIFAR benchmark reads, from the training set.

    python benchmarks/make_cifar10_archive.py cifar10-train.tar.gz

downloads CIFAR-10 once with `keras.datasets.cifar10` (about 170 MB, cached
in ``~/.keras/datasets``) and writes its 50,000 training images as 32x32 RGB
JPEG files, ``train/<class>/<NNNN>.jpg`` (10 classes x 5,000, numbered per
class), into a gzipped tar: the layout `benchmarks/cifar10_quality.py`
(``--archive`` or ``$SEMPPL_CIFAR_TAR``) and `examples/cifar10_semppl.py`
(``$SEMPPL_CIFAR_TAR``) read. JPEG at Pillow's default quality (75), as in
the archive the published numbers were measured on; JPEG-encoded images
give accuracies close to, not exactly those of, the original CIFAR-10.
"""

import argparse
import io
import pathlib
import sys
import tarfile

import numpy as np

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")


def write_archive(images, labels, path, quality=75):
    """Writes ``train/<class>/<NNNN>.jpg`` for every image into the tar.gz ``path``.

    Args:
        images: (N, 32, 32, 3) uint8 RGB.
        labels: (N,) or (N, 1) ints in [0, 10), CIFAR-10's class order.
        path: the archive to write.
        quality: JPEG quality.

    Returns:
        {class name: images written}.
    """
    from PIL import Image

    images = np.asarray(images)
    labels = np.asarray(labels).reshape(-1)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"images must be (N, H, W, 3) uint8; got {images.shape} {images.dtype}.")
    if len(labels) != len(images) or labels.min() < 0 or labels.max() >= len(CIFAR10_CLASSES):
        raise ValueError("labels must be one int in [0, 10) per image.")
    counts = dict.fromkeys(CIFAR10_CLASSES, 0)
    with tarfile.open(path, "w:gz") as tar:
        for image, label in zip(images, labels):
            name = CIFAR10_CLASSES[label]
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
            member = tarfile.TarInfo(f"train/{name}/{counts[name]:04d}.jpg")
            member.size = buffer.tell()
            buffer.seek(0)
            tar.addfile(member, buffer)
            counts[name] += 1
    return counts


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", nargs="?", default="cifar10-train.tar.gz",
                        help="the archive to write (default cifar10-train.tar.gz).")
    args = parser.parse_args(argv)
    import keras

    (images, labels), _ = keras.datasets.cifar10.load_data()
    counts = write_archive(images, labels, pathlib.Path(args.output))
    print(f"wrote {args.output}: {sum(counts.values())} images, "
          + ", ".join(f"{name} {n}" for name, n in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

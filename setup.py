"""Install keras-semppl.

    pip install "keras-semppl[jax]"          # or [tensorflow], [torch]
    pip install "keras-semppl[jax] @ git+REPOSITORY_URL"   # from the repository

TensorFlow is a core requirement on every backend: the input pipeline is
`tf.data`. It is required as ``tensorflow``, the distribution that Colab and
most machines already have (on Linux it runs on the CPU unless installed as
``tensorflow[and-cuda]``), never as ``tensorflow-cpu``, which would be
installed beside it and overwrite its files. A machine that already has
``tensorflow-cpu`` can add ``--no-deps`` or use requirements/constraints.txt.

The one place for ``tensorflow-cpu`` is a Cloud TPU VM training on JAX:
requirements/tpu.txt installs ``jax[tpu]`` (JAX with libtpu) and every core
requirement with ``tensorflow-cpu`` in place of ``tensorflow`` (the build
without accelerator support, as Keras pairs it with JAX), so that
``tf.data`` never opens the TPU that JAX trains on; keras-semppl then goes
in with ``--no-deps``. An extra cannot replace a core requirement, hence the
file; ``[tpu]`` adds ``jax[tpu]`` beside the full ``tensorflow`` (see
docs/distributed.md).
Each backend extra adds only that backend; ``[all]`` adds every backend and
the TFDS loader, ``[test]`` the test tools. CI and the README pin exact
versions with ``-c requirements/constraints.txt``.
"""

import pathlib

from setuptools import find_packages, setup

HERE = pathlib.Path(__file__).parent
#: The project's home; also the default install spec of the Colab notebook
#: (examples/make_notebook.py reads it from here).
REPOSITORY_URL = "https://github.com/keras-semppl/keras-semppl"
version = {}
exec((HERE / "keras_semppl" / "version.py").read_text(), version)

install_requires = [
    "keras>=3.10",
    "numpy>=1.26",
    "tensorflow>=2.16",
    "tensorboard>=2.16",  # semppl train --logdir, keras.callbacks.TensorBoard
    "scikit-learn>=1.3",
    "matplotlib>=3.7",
]
extras = {
    "tensorflow": [],  # the backend is the core requirement itself
    "jax": ["jax>=0.4.30"],
    "torch": ["torch>=2.1"],
    # JAX on a Cloud TPU VM, beside tensorflow; requirements/tpu.txt pairs it
    # with tensorflow-cpu instead.
    "tpu": ["jax[tpu]>=0.4.30"],
    "tfds": ["tensorflow-datasets>=4.9", "importlib_resources"],
    # keras-cv layers as view augmentations (keras_semppl.augment.layer_adapter);
    # optional, since keras-cv pins keras-core-era dependencies.
    "keras-cv": ["keras-cv>=0.9"],
    "test": ["pytest>=7", "keras-cv>=0.9", "nbformat>=5.1", "nbclient>=0.7", "ipykernel>=6"],
}
extras["all"] = sorted(set(extras["jax"] + extras["torch"] + extras["tfds"]))

setup(
    name="keras-semppl",
    version=version["__version__"],
    description=(
        "SemPPL (Semantic Positives via Pseudo-Labels, ICLR 2023) for Keras 3 "
        "on TensorFlow, JAX and PyTorch"
    ),
    long_description=(HERE / "README.md").read_text() if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    url=REPOSITORY_URL,
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["keras_semppl", "keras_semppl.*"]),
    py_modules=["keras_semppl_cli"],
    install_requires=install_requires,
    extras_require=extras,
    entry_points={"console_scripts": ["semppl=keras_semppl_cli:main"]},
)

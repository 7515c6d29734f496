"""Install keras-semppl.

Backends are extras so that users install only the one they run:
``pip install -e ".[jax]"``, ``".[tensorflow]"``, ``".[torch]"`` or ``".[all]"``;
``".[test]"`` adds the test tools. CI and the README pin exact versions with
``-c requirements/constraints.txt``.
"""

import pathlib

from setuptools import find_packages, setup

HERE = pathlib.Path(__file__).parent
version = {}
exec((HERE / "keras_semppl" / "version.py").read_text(), version)

# tf.data runs the input pipeline on every backend, so TensorFlow (the CPU
# build is enough) is a core requirement, not only a backend.
install_requires = [
    "keras>=3.10",
    "numpy>=1.26",
    "tensorflow-cpu>=2.16; platform_system!='Darwin'",
    "tensorflow>=2.16; platform_system=='Darwin'",
    "scikit-learn>=1.3",
    "matplotlib>=3.7",
]
extras = {
    "tensorflow": [],
    "jax": ["jax>=0.4.30"],
    "torch": ["torch>=2.1"],
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
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["keras_semppl", "keras_semppl.*"]),
    py_modules=["keras_semppl_cli"],
    install_requires=install_requires,
    extras_require=extras,
    entry_points={"console_scripts": ["semppl=keras_semppl_cli:main"]},
)

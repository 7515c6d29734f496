"""keras-semppl: SemPPL (ICLR 2023) for Keras 3 on TensorFlow, JAX and PyTorch."""

from keras_semppl.version import __version__

"""Optimizers missing from Keras core."""

from keras_semppl.optimizers.lars import LARS

__all__ = ["LARS"]

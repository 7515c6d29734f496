"""The SemPPL model."""

from keras_semppl.models.semppl import SemPPL

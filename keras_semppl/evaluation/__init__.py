"""Evaluation of learned encoders."""

from keras_semppl.evaluation.embed import embed_images
from keras_semppl.evaluation.knn_classifier import knn_classify

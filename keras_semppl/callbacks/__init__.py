"""Keras callbacks that monitor SemPPL training."""

from keras_semppl.callbacks.history_io import load_history
from keras_semppl.callbacks.history_io import save_history_json
from keras_semppl.callbacks.knn_monitor import KNNMonitor
from keras_semppl.callbacks.knn_monitor import LinearProbeMonitor

"""Shared pytest set-up: the backend comes from KERAS_BACKEND (default jax)."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")
# Keep TensorFlow's start-up quiet and single-threaded enough for 2 cores.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

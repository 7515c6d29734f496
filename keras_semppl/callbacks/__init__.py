"""Keras callbacks that monitor SemPPL training."""

from keras_semppl.callbacks.history_io import history_path_for_model
from keras_semppl.callbacks.history_io import load_history
from keras_semppl.callbacks.history_io import save_history_json
from keras_semppl.callbacks.knn_monitor import KNNMonitor
from keras_semppl.callbacks.knn_monitor import LinearProbeMonitor
from keras_semppl.callbacks.guards import DivergenceError
from keras_semppl.callbacks.guards import DivergenceGuard
from keras_semppl.callbacks.guards import ZeroLearningRateWarning
from keras_semppl.callbacks.checkpoint import AtomicCheckpoint
from keras_semppl.callbacks.checkpoint import fit_resumable
from keras_semppl.callbacks.checkpoint import latest_checkpoint
from keras_semppl.callbacks.compact_progbar import CompactProgbarLogger
from keras_semppl.callbacks.step_projection import StepTimeProjection
from keras_semppl.callbacks.sync_batch_norm import SynchronizedBatchNorm

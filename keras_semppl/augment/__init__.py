"""View augmentations for the `tf.data` input pipeline (TensorFlow ops)."""

from keras_semppl.augment.byol_views import ViewConfig
from keras_semppl.augment.byol_views import ViewSet
from keras_semppl.augment.byol_views import augment_view
from keras_semppl.augment.byol_views import byol_view_configs
from keras_semppl.augment.byol_views import make_view_fn
from keras_semppl.augment.layer_adapter import apply_layers
from keras_semppl.augment.layer_adapter import map_with_layers
from keras_semppl.augment.random_resized_crop import random_resized_crop
from keras_semppl.augment.random_resized_crop import sample_crop_boxes
from keras_semppl.augment.presets import PRESETS
from keras_semppl.augment.presets import view_preset
from keras_semppl.augment.device_augment import DeviceViewAugmentation

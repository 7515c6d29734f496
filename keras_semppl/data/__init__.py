"""Data sources and `tf.data` pipelines (TensorFlow, under every backend)."""

from keras_semppl.data.arrays import SemiSupervisedArrays
from keras_semppl.data.arrays import SourceArrays
from keras_semppl.data.arrays import apply_label_budget
from keras_semppl.data.arrays import select_labelled
from keras_semppl.data.arrays import stratified_split
from keras_semppl.data.digits import digits_images
from keras_semppl.data.digits import load_digits
from keras_semppl.data.image_folder import load_image_folder
from keras_semppl.data.pipeline import make_eval_dataset
from keras_semppl.data.pipeline import make_training_dataset
from keras_semppl.data.sources import resolve_dataset
from keras_semppl.data.tfds_source import load_tfds
from keras_semppl.data.tfds_source import tfds_imagenet_subset

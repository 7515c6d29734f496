"""Files written so that a crash never leaves a half-written one behind."""

from keras_semppl.io.atomic import atomic_path
from keras_semppl.io.atomic import check_keras_file
from keras_semppl.io.atomic import check_writable_folder
from keras_semppl.io.atomic import save_model
from keras_semppl.io.atomic import write_text

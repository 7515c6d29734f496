"""The SemPPL authors' released encoders, as Keras models on every backend.

    import keras_semppl
    encoder = keras_semppl.pretrained.load("resnet_50_1x_1_pct.pkl")
    features = encoder(images)        # (B, H, W, 3) in [0, 1] -> (B, 2048)

The release (google-deepmind/semppl) ships dill pickles of Haiku parameters
for JAX 0.3; they are read here with NumPy alone (`unpickle`), their ResNet
v1 architecture inferred from the parameter shapes (`haiku_resnet`), and
turned into `keras_semppl.encoders.resnet_v1` with the checkpoint's weights
and ImageNet normalisation as its first layer (`release`). Selective-kernel
(SK) checkpoints are refused: no public source defines their layout.

`read_checkpoint` gives the architecture, the step and the online
projector / predictor heads as well.
"""

from keras_semppl.pretrained.haiku_resnet import Architecture
from keras_semppl.pretrained.release import ReleasedCheckpoint
from keras_semppl.pretrained.release import load
from keras_semppl.pretrained.release import read_checkpoint
from keras_semppl.pretrained.unpickle import CheckpointError

__all__ = ["Architecture", "CheckpointError", "ReleasedCheckpoint", "load", "read_checkpoint"]

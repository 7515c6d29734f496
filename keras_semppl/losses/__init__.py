"""SemPPL's loss terms, written once in `keras.ops`."""

from keras_semppl.losses.contrastive import contrastive_logits
from keras_semppl.losses.contrastive import masked_infonce
from keras_semppl.losses.invariance import masked_kl_invariance
from keras_semppl.losses.semppl_objective import semppl_objective

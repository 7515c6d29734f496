"""Stateful and stateless building blocks of the SemPPL model."""

from keras_semppl.layers.batch_norm import BatchNormalization
from keras_semppl.layers.embedding_queue import EmbeddingQueue
from keras_semppl.layers.image_normalization import ImageNormalization
from keras_semppl.layers.knn_pseudo_labeler import KNNPseudoLabeler
from keras_semppl.layers.mlp_head import MLPHead
from keras_semppl.layers.positive_sampler import SemanticPositiveSampler
from keras_semppl.layers.pseudo_label_trust import PseudoLabelTrust
from keras_semppl.layers.positive_sampler import sample_negative_indices

"""PNG plots: training curves and a t-SNE map of embeddings (matplotlib, Agg)."""

from keras_semppl.plots.embedding_map import plot_embedding_map
from keras_semppl.plots.embedding_map import tsne_2d
from keras_semppl.plots.training_curves import plot_training_curves

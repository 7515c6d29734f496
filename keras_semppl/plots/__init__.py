"""PNG plots: training curves, a t-SNE map of embeddings, a grid of training views (matplotlib, Agg)."""

from keras_semppl.plots.embedding_map import plot_embedding_map
from keras_semppl.plots.embedding_map import tsne_2d
from keras_semppl.plots.training_curves import plot_training_curves
from keras_semppl.plots.views_grid import plot_views

"""Evaluation of learned encoders: k-NN, linear probe, fine-tuning, SemPPL's
own classifier, raw-pixel baselines, and every method side by side."""

from keras_semppl.evaluation.classical_baselines import classical_baselines
from keras_semppl.evaluation.classification_metrics import confusion_matrix
from keras_semppl.evaluation.classification_metrics import top_k_accuracy
from keras_semppl.evaluation.embed import embed_images
from keras_semppl.evaluation.embed import encoder_image_size
from keras_semppl.evaluation.embed import load_encoder
from keras_semppl.evaluation.finetune import finetune_evaluate
from keras_semppl.evaluation.finetune import random_crop_flip
from keras_semppl.evaluation.knn_eval import knn_class_scores
from keras_semppl.evaluation.knn_eval import knn_classify
from keras_semppl.evaluation.knn_eval import knn_evaluate
from keras_semppl.evaluation.knn_rule import describe_knn_k
from keras_semppl.evaluation.knn_rule import held_out_knn_k
from keras_semppl.evaluation.linear_probe import linear_probe_evaluate
from keras_semppl.evaluation.method_comparison import compare_methods
from keras_semppl.evaluation.method_comparison import comparison_table
from keras_semppl.evaluation.own_classifier import own_classifier_accuracy
from keras_semppl.evaluation.own_classifier import own_classifier_predict
from keras_semppl.evaluation.protocols import PROTOCOLS
from keras_semppl.evaluation.protocols import evaluate_arrays
from keras_semppl.evaluation.protocols import evaluate_encoder
from keras_semppl.evaluation.post_training import held_out_comparison
from keras_semppl.evaluation.report import EvaluationReport
from keras_semppl.evaluation.report import ProtocolResult

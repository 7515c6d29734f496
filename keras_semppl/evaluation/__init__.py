"""Evaluation of learned encoders: k-NN, linear probe, fine-tuning."""

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
from keras_semppl.evaluation.linear_probe import linear_probe_evaluate
from keras_semppl.evaluation.protocols import PROTOCOLS
from keras_semppl.evaluation.protocols import evaluate_arrays
from keras_semppl.evaluation.protocols import evaluate_encoder
from keras_semppl.evaluation.post_training import held_out_comparison
from keras_semppl.evaluation.report import EvaluationReport
from keras_semppl.evaluation.report import ProtocolResult

"""What each SemPPL step reports to the progress bar, History and TensorBoard.

Loss terms (means over the steps of an epoch), and monitors computed from the
step's per-example values:

* ``pseudo_label_accuracy``: k-NN pseudo-label == hidden true class, over
  unlabelled examples with a known class and a pseudo-label;
* ``pseudo_label_coverage``: share of unlabelled examples with a pseudo-label;
* ``labelled_knn_accuracy``: k-NN vote == label, over labelled examples;
* ``semantic_positive_precision``: share of the drawn semantic positives of
  unlabelled anchors (with a known class) whose queue label is that class;
* with the online probe: ``probe_loss`` and ``probe_accuracy`` (in training
  on unlabelled rows with a known class, i.e. rows the probe never trained
  on; in evaluation on every row with a class).
"""

import keras
from keras import ops

from keras_semppl.losses.semppl_objective import TERMS

#: The scalar terms of `keras_semppl.losses.semppl_objective` that are logged.
TERM_NAMES = TERMS  # the objective's dict keys, one tracker each


class StepMetrics:
    """The `keras.metrics.Mean` trackers of one model and how a step updates them.

    Args:
        online_probe: also track ``probe_loss`` and ``probe_accuracy``.
        hidden: names left out of the logs (progress bar, History,
            TensorBoard): terms that the model's options make 0 at every
            step, and monitors of a disabled mechanism (`disabled_metrics`).
    """

    def __init__(self, online_probe=False, hidden=()):
        self.hidden = frozenset(hidden)
        self.terms = [keras.metrics.Mean(name=name) for name in TERM_NAMES]
        self.pseudo_label_accuracy = keras.metrics.Mean(name="pseudo_label_accuracy")
        self.pseudo_label_coverage = keras.metrics.Mean(name="pseudo_label_coverage")
        self.labelled_knn_accuracy = keras.metrics.Mean(name="labelled_knn_accuracy")
        self.semantic_positive_precision = keras.metrics.Mean(
            name="semantic_positive_precision"
        )
        self.probe = []
        if online_probe:
            self.probe = [
                keras.metrics.Mean(name="probe_loss"),
                keras.metrics.Mean(name="probe_accuracy"),
            ]

    @property
    def metrics(self):
        """Every tracker, in the order the logs list them."""
        return self.terms + [
            self.pseudo_label_accuracy,
            self.pseudo_label_coverage,
            self.labelled_knn_accuracy,
            self.semantic_positive_precision,
        ] + self.probe

    def update(self, terms, monitors, training):
        """Adds one step's values.

        Args:
            terms: dict of scalars with at least `TERM_NAMES` (and
                ``probe_loss`` with the probe).
            monitors: dict of per-example values: ``labels``, ``pseudo``,
                ``true_labels`` (B,) int (-1 = none); optionally
                ``positive_labels`` (B, P) int and ``positive_mask`` (B, P)
                bool (the drawn semantic positives); ``probe_correct`` (B,)
                bool with the probe.
            training: a training step (True) or an evaluation step (False);
                only the probe's accuracy is scored differently.
        """
        for tracker in self.terms:
            tracker.update_state(terms[tracker.name])
        labels, pseudo, truth = monitors["labels"], monitors["pseudo"], monitors["true_labels"]
        unlabelled = ops.less(labels, 0)
        has_pseudo = ops.greater_equal(pseudo, 0)
        known = ops.logical_and(unlabelled, ops.greater_equal(truth, 0))
        if self.probe:
            # Training: rows the probe never trained on; evaluation: any class.
            scored = known if training else ops.logical_or(
                ops.greater_equal(labels, 0), ops.greater_equal(truth, 0)
            )
            self.probe[0].update_state(terms["probe_loss"])
            self.probe[1].update_state(
                ops.cast(monitors["probe_correct"], "float32"),
                sample_weight=ops.cast(scored, "float32"),
            )
        self.pseudo_label_accuracy.update_state(
            ops.cast(ops.equal(pseudo, truth), "float32"),
            sample_weight=ops.cast(ops.logical_and(known, has_pseudo), "float32"),
        )
        self.pseudo_label_coverage.update_state(
            ops.cast(has_pseudo, "float32"), sample_weight=ops.cast(unlabelled, "float32")
        )
        self.labelled_knn_accuracy.update_state(
            ops.cast(ops.equal(pseudo, labels), "float32"),
            sample_weight=ops.cast(
                ops.logical_and(ops.logical_not(unlabelled), has_pseudo), "float32"
            ),
        )
        if "positive_labels" in monitors:
            pos_labels = monitors["positive_labels"]
            pos_weight = ops.logical_and(monitors["positive_mask"], known[:, None])
            self.semantic_positive_precision.update_state(
                ops.reshape(ops.cast(ops.equal(pos_labels, truth[:, None]), "float32"), (-1,)),
                sample_weight=ops.reshape(ops.cast(pos_weight, "float32"), (-1,)),
            )

    def results(self):
        """{name: current value} of every tracker that is not hidden."""
        return {m.name: m.result() for m in self.metrics if m.name not in self.hidden}


#: Monitors of the k-NN vote and the semantic positives.
PSEUDO_LABEL_MONITORS = ("pseudo_label_accuracy", "pseudo_label_coverage",
                         "labelled_knn_accuracy", "semantic_positive_precision")


def disabled_metrics(options):
    """Names whose value the options fix at 0 (or leave undefined) at every step.

    Args:
        options: a `keras_semppl.models.options.SemPPLOptions`.
    """
    hidden = set()
    no_invariance = options.invariance == "none" or options.lambda_invariance == 0
    if no_invariance:
        hidden.add("i_augm")
    if no_invariance or (options.invariance == "kl"
                         and not options.invariance_on_semantic_positives):
        hidden.add("i_sempos")
    if not options.semantic_positives:
        hidden.update({"l_sempos", "i_sempos", *PSEUDO_LABEL_MONITORS})
    return hidden

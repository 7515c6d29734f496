"""A running estimate of how far a pseudo-label can be trusted.

The k-NN vote is also run for the labelled examples of each batch (their own
queue entries excluded), so its accuracy there is measured every step: the
leave-one-out precision the model already reports as
``labelled_knn_accuracy``. This layer keeps an exponentially weighted count
of those votes and hits::

    hits  <- m * hits  + (labelled examples whose vote equals their label)
    count <- m * count + (labelled examples with a vote)
    p     = (hits + 1 / C) / (count + 1)        (one pseudo-vote at chance)
    kappa = clip((p - 1 / C) / (1 - 1 / C), 0, 1)

kappa is the chance-corrected precision (Cohen's kappa form): the share of
semantic positives that carry class information, if a wrong vote picks a
class at random. A vote at chance gives kappa = 0, a perfect one 1; before
any labelled vote kappa is 0. An anchor with a label is trusted fully (its
positives are of its class). `keras_semppl.losses.semppl_objective` uses
kappa in the trust-corrected InfoNCE.

What it rests on: labelled and unlabelled examples come from one
distribution, so the vote's accuracy on one estimates it on the other
(on the digits job and CIFAR-10 at 1 % of the labels,
``labelled_knn_accuracy`` tracks ``pseudo_label_accuracy`` within a few
points and ends slightly above it: 1.000 against 0.973, 0.299 against
0.285). It needs example ids: without them a labelled example can find
its own earlier queue entry. m = 0.9 weights about the last 10 steps, about
300 labelled votes at 32 labelled examples per batch (the synthetic collapse
grid estimates from 200).
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_semppl")
class PseudoLabelTrust(keras.layers.Layer):
    """Running leave-one-out precision of the k-NN vote, as a per-anchor trust.

    Args:
        num_classes: C (chance is 1 / C).
        momentum: m of the weighted counts, in [0, 1).

    State (non-trainable, saved with the model): ``hits`` and ``count``,
    float32 scalars.
    """

    def __init__(self, num_classes, momentum=0.9, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an int >= 2; got {num_classes!r}.")
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) \
                or not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1); got {momentum!r}.")
        self.num_classes = num_classes
        self.momentum = float(momentum)
        common = dict(trainable=False, dtype="float32", initializer="zeros",
                      aggregation="only_first_replica")
        self.hits = self.add_weight(shape=(), name="hits", **common)
        self.count = self.add_weight(shape=(), name="count", **common)
        self.built = True

    def kappa(self):
        """Scalar chance-corrected precision estimate in [0, 1]."""
        chance = 1.0 / self.num_classes
        precision = (self.hits.value + chance) / (self.count.value + 1.0)
        return ops.clip((precision - chance) / (1.0 - chance), 0.0, 1.0)

    def anchor_trust(self, labels):
        """(B,) float32: 1 for labelled anchors (label >= 0), else ``kappa()``."""
        return ops.where(ops.greater_equal(labels, 0), 1.0, self.kappa())

    def update(self, votes, labels):
        """Adds one step's labelled votes.

        Args:
            votes: (B,) int k-NN votes (-1 = no vote).
            labels: (B,) int labels (-1 = unlabelled).
        """
        scored = ops.logical_and(ops.greater_equal(labels, 0), ops.greater_equal(votes, 0))
        scored = ops.cast(scored, "float32")
        hit = ops.cast(ops.equal(votes, labels), "float32") * scored
        m = self.momentum
        self.hits.assign(m * self.hits.value + ops.sum(hit))
        self.count.assign(m * self.count.value + ops.sum(scored))

    def get_config(self):
        config = super().get_config()
        config.update(num_classes=self.num_classes, momentum=self.momentum)
        return config

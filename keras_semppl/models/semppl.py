"""The SemPPL model: a `keras.Model` that trains with plain `fit`.

Online network: encoder -> projector -> predictor. Target network: a copy of
encoder -> projector, moved towards the online one by an EMA after every
optimizer step (BYOL; `keras_semppl.models.target`). A queue of labelled
target projections feeds a k-NN pseudo-labeller and the semantic positives
(SemPPL, Bošnjak et al., ICLR 2023). Losses:
`keras_semppl.losses.semppl_objective`.

One training step, top to bottom (`compute_step`, then the backend trainer's
optimizer step, then `finish_step`):

    1. embed views        online (V, B, D), target (L, B, D), features (B, F)
    2. pseudo-label       k-NN vote of the queue for every example
    3. draw negatives     N other examples of the (global) batch per example
       and positives      P queue entries sharing each anchor's (pseudo-)label
    4. objective          semppl_objective (+ the online probe's loss)
    5. optimizer          the backend trainer (`keras_semppl.models.trainers`)
    6. target EMA         target <- tau * target + (1 - tau) * online
    7. enqueue            the batch's labelled target projections
    8. metrics            `keras_semppl.models.step_metrics`

Everything here is backend-free `keras.ops`; the per-backend gradient
mechanics come from `keras_semppl.models.trainers` (chosen at import).
"""

import copy

import keras
from keras import ops

from keras_semppl.batch import parse_batch
from keras_semppl.callbacks.guards import NONFINITE_KEY
from keras_semppl.callbacks.guards import WEIGHTS_CHECK
from keras_semppl.callbacks.guards import DivergenceGuard
from keras_semppl.callbacks.guards import ZeroLearningRateWarning
from keras_semppl.distribute import replicas
from keras_semppl.encoders.checks import check_encoder
from keras_semppl.layers.embedding_queue import EmbeddingQueue
from keras_semppl.layers.knn_pseudo_labeler import KNNPseudoLabeler
from keras_semppl.layers.mlp_head import MLPHead
from keras_semppl.layers.positive_sampler import SemanticPositiveSampler
from keras_semppl.layers.positive_sampler import sample_negative_indices
from keras_semppl.layers.positive_sampler import sample_pair_negative_indices
from keras_semppl.layers.pseudo_label_trust import PseudoLabelTrust
from keras_semppl.losses.semppl_objective import INVARIANCES
from keras_semppl.losses.semppl_objective import semppl_objective
from keras_semppl.models import target as target_network
from keras_semppl.models.label_guard import drop_remainder
from keras_semppl.models.label_guard import guard_labels
from keras_semppl.models.step_metrics import TERM_NAMES
from keras_semppl.models.step_metrics import StepMetrics
from keras_semppl.models.trainers import Trainer
from keras_semppl.models.trainers.base import StepOutputs


def _positive_int(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value!r}.")


def _positive_float(name, value, allow_zero=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number; got {value!r}.")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound}; got {value!r}.")


def _check_arguments(encoder, args):
    """Raises ValueError naming the first bad constructor argument."""
    check_encoder(encoder)
    _positive_int("num_classes", args["num_classes"], minimum=2)
    _positive_int("num_large_views", args["num_large_views"])
    _positive_int("num_small_views", args["num_small_views"], minimum=0)
    for name in ("projector_hidden_dim", "projection_dim", "predictor_hidden_dim",
                 "queue_size", "knn_k", "num_negatives", "num_semantic_positives"):
        _positive_int(name, args[name])
    if args["knn_k"] > args["queue_size"]:
        raise ValueError(
            f"knn_k={args['knn_k']} is larger than queue_size={args['queue_size']}."
        )
    if args["num_semantic_positives"] > args["queue_size"]:
        raise ValueError(
            f"num_semantic_positives={args['num_semantic_positives']} is larger than "
            f"queue_size={args['queue_size']}."
        )
    _positive_float("temperature", args["temperature"])
    for name in ("c", "alpha", "lambda_invariance"):
        _positive_float(name, args[name], allow_zero=True)
    if not 0.0 <= args["target_decay_base"] <= 1.0:
        raise ValueError(
            f"target_decay_base must be in [0, 1]; got {args['target_decay_base']!r}."
        )
    if args["target_decay_steps"] is not None:
        _positive_int("target_decay_steps", args["target_decay_steps"])
    view_augmentation = args["view_augmentation"]
    if view_augmentation is not None and not isinstance(view_augmentation, keras.layers.Layer):
        raise ValueError(
            "view_augmentation must be a keras.layers.Layer or None; got "
            f"{type(view_augmentation).__name__}."
        )
    input_shape = tuple(encoder.inputs[0].shape)
    if len(input_shape) != 4:
        raise ValueError(
            f"The encoder's input must be images (batch, height, width, "
            f"channels); its input shape is {input_shape}."
        )
    if args["num_small_views"] > 0 and (input_shape[1] is not None or input_shape[2] is not None):
        raise ValueError(
            "num_small_views > 0 needs an encoder that accepts any image size "
            f"(input shape (None, None, None, C)); its input shape is {input_shape}."
        )


PSEUDO_LABEL_QUERIES = ("online", "target")
SEMANTIC_TRUSTS = ("estimated", "none")

# Store keys of the seed-generator states in a saved model.
_SEED_KEY = "seed_state_"


@keras.saving.register_keras_serializable(package="keras_semppl")
class SemPPL(Trainer):
    """SemPPL: contrastive learning with semantic positives from pseudo-labels.

    Train with ``model.compile(optimizer=...)`` then ``model.fit(dataset)``;
    batches follow `keras_semppl.batch` (L large views, S small views, labels
    with -1 for unlabelled, optional example ids and hidden true labels).
    ``model(images)`` returns the online encoder's features (B, F).

    Args:
        encoder: `keras.Model` mapping images (B, H, W, C) to features (B, F).
            With small views its input height and width must be None.
        num_classes: number of classes C of the labelled data.
        num_large_views: L (MAE-CT_SemPPL: 4; 2 is BYOL's pair).
        num_small_views: S (MAE-CT_SemPPL: 2).
        projector_hidden_dim: BYOL: 4096.
        projection_dim: D, BYOL: 256.
        predictor_hidden_dim: BYOL: 4096.
        queue_size: Q slots per large view (MAE-CT_SemPPL: 2,560 at CIFAR scale).
        knn_k: neighbours per (view, queue) pair in the vote (MAE-CT_SemPPL: 1;
            k=5 measured no better on digits).
        num_negatives: sampled negatives per anchor (ReLICv2, MAE-CT_SemPPL: 10).
        num_semantic_positives: P per anchor (MAE-CT_SemPPL: 3; 6 measured no
            better on digits).
        temperature: InfoNCE temperature (MAE-CT_SemPPL: 0.15; 0.1 measured no
            better on digits).
        c: weight of the contrastive terms. Adam-type and LARS updates hardly
            depend on the loss scale, so c only fixes the unit: 1, and what
            matters are alpha and lambda / c. (MAE-CT_SemPPL's 0.3 belongs to
            a total whose invariance term is itself contrastive; see below.)
        alpha: weight of L_sempos relative to L_augm. 1: in MAE-CT_SemPPL the
            effective ratio is about 0.92-0.94 (its lambda=5 multiplies signed
            cross-entropies that add InfoNCE gradient to both terms, so its
            nominal alpha=0.2 is not the ratio it trains with); on digits,
            alpha=0.2 stayed 3-5 points below alpha ~1 (see the benchmark notes).
        lambda_invariance: weight of the invariance penalty. With ReLIC's KL
            (``invariance="kl"``), which is 0 at collapse while each InfoNCE
            term is ln(1 + N) there, a large weight makes collapse the
            cheapest state: MAE-CT_SemPPL's 5 collapsed the digits job. The
            loss must fall all the way along a path from a collapsed to a
            class-separated embedding (tests/test_collapse.py): that holds for
            lambda / c <= 1 and fails from 2 on. The default 0.3 keeps a
            margin of 3x and measured no worse than 0 on digits.
        target_decay_base: tau_base of BYOL's EMA (0.99 short runs, 0.996 long).
        target_decay_steps: K of BYOL's cosine EMA schedule (total training
            steps). None: each `fit` sets K to its ``epochs`` x steps per
            epoch (as BYOL does); tau stays at tau_base only when that count
            is unknown (a generator without a length and no
            ``steps_per_epoch``).
        fuse_views: run all large views through the encoder as one batch
            (faster; BatchNorm then normalises over all views together, as
            SimCLR does). False runs each view separately (BYOL).
        semantic_positives: False switches SemPPL's extra work off (no k-NN
            vote, no positive draw, no queue writes; L_sempos = I_sempos = 0),
            leaving BYOL/ReLIC's augmentation terms only. For ablations and
            the throughput benchmark's "augmentation-only" step; alpha=0
            and lambda=0 alone would still run the k-NN and the queue.
        seed: seed of the negative and positive sampling.
        sync_batch_norm: BatchNorm of the projector, predictor and target
            projector uses the statistics of the global batch under a
            `tf.distribute` strategy (SimCLR/BYOL's cross-replica BN). Only the
            TensorFlow backend has per-replica batches; under JAX's
            `keras.distribution.DataParallel` BatchNorm already sees the global
            batch, and torch has no distributed `fit`, so there it is a no-op.
            The encoder's own BatchNorm layers are the encoder's business
            (`BatchNormalization(synchronized=True)` on TensorFlow).
        view_augmentation: optional `keras.layers.Layer` (B, H, W, C) ->
            same shape, applied to every view batch inside the train step
            (training only; online and target see the same augmented large
            views). A layer with `augments_all_views = True`, e.g.
            `keras_semppl.augment.DeviceViews`, instead gets the dict
            {"large_views": ..., "small_views": ...} and returns it, so each
            view keeps its own augmentation (BYOL's view one / view two):
            the accelerator-side alternative to augmenting in `tf.data`.
            Must be serialisable; None (default) leaves views as delivered.
        online_probe: True adds a linear classifier Dense(C) on the
            stop-gradient encoder features of the first large view, trained
            with cross-entropy on the labelled examples of each batch by the
            same optimizer (BYOL's online classifier, byol_experiment.py);
            a monitor only, it never changes the encoder. Metrics: probe_loss
            and probe_accuracy (in training on unlabelled examples whose
            hidden true class is known, i.e. never trained on; in evaluation
            on every example with a class). False (default): no probe.
        same_view_pairs: also contrast large view i with its own target
            (ReLICv2's pseudo-code and MAE-CT_SemPPL loop over all (i, j)).
            False (default, our choice): those pairs carry no
            augmentation-invariance signal, and with L=2 they would be half
            of all pairs.
        invariance: "kl" (default, ReLIC's KL, the paper's), "3p" (the
            signed cross-entropy stand-in of MAE-CT_SemPPL, to reproduce that
            code: use it with c=0.3, alpha=0.2, lambda_invariance=5 and
            same_view_pairs=True) or "none". See
            `keras_semppl.losses.semppl_objective`.
        invariance_on_semantic_positives: also apply the KL to the
            semantic-positive logits. False (default): there the KL pulls
            against the weak semantic-positive term early in training.
        negatives_per_pair: draw fresh negatives for every contrastive pair
            (i, j), as MAE-CT_SemPPL does per loss call (default); False
            shares one draw across pairs.
        pseudo_label_query: which embeddings of an example vote against the
            queue: "online" predictions (default; MAE-CT_SemPPL and the
            paper's Figure 1) or its "target" projections (the queue's own
            space).
        semantic_trust: how far L_sempos trusts a pseudo-labelled anchor's
            semantic positives. "estimated" (default): each row is the
            trust-corrected InfoNCE -log(kappa q_0 + (1 - kappa) / (1 + N)),
            kappa = 1 for labelled anchors and, for pseudo-labelled ones,
            the chance-corrected running precision of the k-NN vote on the
            batch's labelled examples (`keras_semppl.layers.PseudoLabelTrust`,
            logged as ``semantic_trust``; needs example ids, or a labelled
            example finds its own earlier queue entry and the estimate is
            optimistic). With it, on a synthetic grid of noisy positives
            (10-100 % correct) the loss's minimum along a path from collapse
            to separation stays where the augmentation-only objective's is
            (tests/test_collapse_grid.py); the paper's form moves it toward
            collapse in 48 of 120 cells (about halfway at 10-22 % correct).
            On digits it measured no worse (benchmarks/NOTES.md). "none":
            the paper's InfoNCE, every positive trusted.
    """

    def __init__(
        self,
        encoder,
        num_classes,
        num_large_views=2,
        num_small_views=0,
        projector_hidden_dim=4096,
        projection_dim=256,
        predictor_hidden_dim=4096,
        queue_size=2560,
        knn_k=1,
        num_negatives=10,
        num_semantic_positives=3,
        temperature=0.15,
        c=1.0,
        alpha=1.0,
        lambda_invariance=0.3,
        target_decay_base=0.99,
        target_decay_steps=None,
        fuse_views=True,
        semantic_positives=True,
        seed=None,
        sync_batch_norm=True,
        view_augmentation=None,
        online_probe=False,
        same_view_pairs=False,
        invariance="kl",
        invariance_on_semantic_positives=False,
        negatives_per_pair=True,
        pseudo_label_query="online",
        semantic_trust="estimated",
        **kwargs,
    ):
        super().__init__(**kwargs)
        _check_arguments(encoder, locals())

        # Networks: online, then the frozen target copy. (The order of
        # construction fixes the random initial weights: keep it.)
        feature_dim = int(encoder.outputs[0].shape[-1])
        heads = dict(sync_batch_norm=sync_batch_norm)
        self.encoder = encoder
        self.projector = MLPHead(projector_hidden_dim, projection_dim, name="projector", **heads)
        self.predictor = MLPHead(predictor_hidden_dim, projection_dim, name="predictor", **heads)
        self.projector.build((None, feature_dim))
        self.predictor.build((None, projection_dim))
        self.target_encoder = target_network.clone_network(encoder, "target_" + encoder.name)
        self.target_projector = target_network.clone_network(
            self.projector, "target_projector", input_shape=(None, feature_dim)
        )
        self._target_pairs = target_network.freeze_as_copy(
            [(self.encoder, self.target_encoder), (self.projector, self.target_projector)]
        )

        # Queue, pseudo-labels, sampling.
        self.queue = EmbeddingQueue(num_large_views, queue_size, projection_dim, name="queue")
        self.knn = KNNPseudoLabeler(num_classes, knn_k, name="knn")
        self.positive_sampler = SemanticPositiveSampler(
            num_semantic_positives, seed=seed, name="positive_sampler"
        )
        self.negative_seed = keras.random.SeedGenerator(
            None if seed is None else seed + 1, name="negative_seed"
        )
        self.target_decay = keras.Variable(
            target_decay_base, trainable=False, dtype="float32", name="target_decay"
        )
        # Built last, so that it leaves the random draws of the rest unchanged.
        if online_probe:
            self.probe = keras.layers.Dense(num_classes, name="online_probe")
            self.probe.build((None, feature_dim))

        # How far pseudo-labels are trusted (a running estimate; no random draws).
        if semantic_trust not in SEMANTIC_TRUSTS:
            raise ValueError(
                f"semantic_trust must be one of {SEMANTIC_TRUSTS}; got {semantic_trust!r}.")
        self.semantic_trust = semantic_trust
        if semantic_trust == "estimated":
            self.pseudo_label_trust = PseudoLabelTrust(num_classes, name="pseudo_label_trust")

        # Monitors (progress bar, History, TensorBoard).
        self.step_metrics = StepMetrics(online_probe=bool(online_probe))

        # Config: one attribute per argument.
        self.num_classes = num_classes
        self.num_large_views = num_large_views
        self.num_small_views = num_small_views
        self.projector_hidden_dim = projector_hidden_dim
        self.projection_dim = projection_dim
        self.predictor_hidden_dim = predictor_hidden_dim
        self.queue_size = queue_size
        self.knn_k = knn_k
        self.num_negatives = num_negatives
        self.num_semantic_positives = num_semantic_positives
        self.temperature = temperature
        self.c = c
        self.alpha = alpha
        self.lambda_invariance = lambda_invariance
        self.target_decay_base = target_decay_base
        self.target_decay_steps = target_decay_steps
        self.fuse_views = fuse_views
        self.semantic_positives = bool(semantic_positives)
        self.seed = seed
        self.sync_batch_norm = bool(sync_batch_norm)
        self.view_augmentation = view_augmentation
        if invariance not in INVARIANCES:
            raise ValueError(f"invariance must be one of {INVARIANCES}; got {invariance!r}.")
        if pseudo_label_query not in PSEUDO_LABEL_QUERIES:
            raise ValueError(
                f"pseudo_label_query must be one of {PSEUDO_LABEL_QUERIES}; "
                f"got {pseudo_label_query!r}.")
        self.same_view_pairs = bool(same_view_pairs)
        self.invariance = invariance
        self.invariance_on_semantic_positives = bool(invariance_on_semantic_positives)
        self.negatives_per_pair = bool(negatives_per_pair)
        self.pseudo_label_query = pseudo_label_query
        self.online_probe = bool(online_probe)
        self.built = True

    def call(self, images, training=False):
        """Online encoder features: (B, H, W, C) -> (B, F)."""
        return self.encoder(images, training=training)

    @property
    def metrics(self):
        return self.step_metrics.metrics

    # --------------------------------------------------- the step, in order
    def parse_batch(self, data):
        """What `fit` yields -> a validated `SemPPLBatch` (see `keras_semppl.batch`)."""
        batch = parse_batch(data, self.num_large_views, self.num_small_views)
        expected = tuple(self.encoder.inputs[0].shape[1:])
        for name, views in (("large", batch.large_views), ("small", batch.small_views)):
            for view in views:
                got = tuple(view.shape[1:])
                if any(e is not None and g is not None and e != g
                       for e, g in zip(expected, got)):
                    raise ValueError(
                        f"A {name} view has image shape {got} (height, width, "
                        f"channels) but the encoder expects {expected}."
                    )
        if batch.labels.shape[0] is None:
            raise ValueError(
                "SemPPL needs a static batch size; batch the dataset with "
                "drop_remainder=True."
            )
        return batch

    def compute_step(self, batch, training):
        """Steps 1-4: the objective of one batch, and what the rest of the step needs.

        Writes no variable of the model's own: the queue write waits in the
        result for `finish_step`. (In training, BatchNorm statistics move, and
        every call draws new random negatives and positives.)

        Args:
            batch: a `SemPPLBatch` (`parse_batch`).
            training: BatchNorm on batch statistics, view augmentation on,
                and a queue write prepared.

        Returns:
            `StepOutputs`: ``objective`` (``loss`` plus the online probe's
            cross-entropy when there is a probe), ``terms`` (the dict of
            `semppl_objective`, with ``objective`` and ``probe_loss``),
            per-example ``monitors`` and ``queue_write``.
        """
        batch = self._augment_views(batch, training)
        online, target, features = self._embed_views(batch, training)
        # Under a tf.distribute strategy each replica holds B / R examples:
        # the negatives, positives and the queue write use the all-gathered
        # global batch (the same draws on every replica, this replica's rows),
        # so the step equals a single-device one. Elsewhere these are identities.
        global_target = replicas.all_gather(target, axis=1)
        global_labels = replicas.all_gather(batch.labels)
        global_ids = replicas.all_gather(batch.ids)
        negatives = self._draw_negatives(global_target.shape[1], online.shape[0])
        monitors = {"labels": batch.labels, "true_labels": batch.true_labels}
        if self.semantic_positives:
            queue = self.queue.read()
            pseudo = self._pseudo_label(online, target, queue, batch.ids)
            anchor_labels = ops.where(ops.greater_equal(batch.labels, 0), batch.labels, pseudo)
            positives, positive_mask, positive_labels = self._draw_positives(
                queue, replicas.all_gather(anchor_labels), global_ids
            )
            monitors.update(positive_labels=positive_labels, positive_mask=positive_mask)
        else:
            pseudo = ops.full_like(batch.labels, -1)
            positives, positive_mask = self._no_positives(online)
        monitors["pseudo"] = pseudo
        positive_trust = None
        if self.semantic_positives and self.semantic_trust == "estimated":
            positive_trust = self.pseudo_label_trust.anchor_trust(batch.labels)
        terms = semppl_objective(
            online, target, negatives, positives, positive_mask,
            temperature=self.temperature, c=self.c, alpha=self.alpha,
            lam=self.lambda_invariance, negative_pool=global_target,
            same_view_pairs=self.same_view_pairs, invariance=self.invariance,
            invariance_on_semantic_positives=self.invariance_on_semantic_positives,
            positive_trust=positive_trust,
        )
        objective = terms["loss"]
        if self.online_probe:
            probe_loss, monitors["probe_correct"] = self._probe_terms(features, batch)
            terms = dict(terms, probe_loss=probe_loss)
            objective = objective + probe_loss
        queue_write = None
        if training and self.semantic_positives:
            queue_write = (global_target, global_labels, global_ids)
        return StepOutputs(objective, dict(terms, objective=objective), monitors, queue_write)

    # (5: the optimizer step is the backend trainer's.)

    def finish_step(self, step, training):
        """Steps 6-8: target EMA and queue write (training only), then metrics.

        Returns:
            The logs: {metric name: value}.
        """
        if training:
            self._update_target()
            if step.queue_write is not None:
                self._enqueue(*step.queue_write)
                if self.semantic_trust == "estimated":
                    self.pseudo_label_trust.update(replicas.all_gather(step.monitors["pseudo"]),
                                                   replicas.all_gather(step.monitors["labels"]))
        self.step_metrics.update(step.terms, step.monitors, training=training)
        logs = self.step_metrics.results()
        if self.semantic_positives and self.semantic_trust == "estimated":
            logs["semantic_trust"] = self.pseudo_label_trust.kappa()
        if training:
            logs[NONFINITE_KEY] = self._nonfinite_mask(step.terms)
        return logs

    @property
    def finite_check_names(self):
        """What the bits of the step's non-finite mask stand for, in order."""
        names = tuple(TERM_NAMES) + ("objective",)
        if self.online_probe:
            names += ("probe_loss",)
        return names + (WEIGHTS_CHECK,)

    def _nonfinite_mask(self, terms):
        """float32 scalar: sum of 2**i over the checks i that are not finite.

        The checks are the loss terms (``finite_check_names``) and, last, all
        trainable weights after the optimizer step (a NaN input can leave the
        loss finite while every weight is NaN).
        """
        names = self.finite_check_names
        flags = [ops.all(ops.isfinite(ops.cast(terms[name], "float32")))
                 for name in names[:-1]]
        weights_ok = ops.all(ops.stack([ops.all(ops.isfinite(v.value))
                                        for v in self.trainable_variables]))
        flags.append(weights_ok)
        bad = ops.cast(ops.logical_not(ops.stack(flags)), "float32")
        powers = ops.convert_to_tensor([float(2 ** i) for i in range(len(names))], "float32")
        return ops.sum(bad * powers)

    def loss_terms(self, data, training=False):
        """The loss terms of one batch, leaving every variable as it was.

        Runs `compute_step` in a `keras.StatelessScope`, so that neither
        BatchNorm statistics, nor the sampling seeds, nor the queue, target or
        metrics change: calling it twice gives the same terms.

        Args:
            data: a batch as `fit` takes it (see `keras_semppl.batch`).
            training: BatchNorm on batch statistics and view augmentation on.

        Returns:
            dict of scalar tensors: ``loss``, ``l_augm``, ``l_sempos``,
            ``i_augm``, ``i_sempos``, ``objective`` (the differentiated scalar)
            and, with the online probe, ``probe_loss``.
        """
        batch = self.parse_batch(data)
        with keras.StatelessScope(), replicas.no_grad():
            return self.compute_step(batch, training=training).terms

    # --------------------------------------------------------- step parts
    def _augment_views(self, batch, training):
        """Applies ``view_augmentation`` to every view (training only)."""
        if not training or self.view_augmentation is None:
            return batch
        if getattr(self.view_augmentation, "augments_all_views", False):
            # e.g. DeviceViews: one augmentation per view, all views at once.
            views = {"large_views": batch.large_views, "small_views": batch.small_views}
            views = self.view_augmentation(views, training=True)
            return batch._replace(large_views=tuple(views["large_views"]),
                                  small_views=tuple(views["small_views"]))
        return batch._replace(**{
            key: tuple(self.view_augmentation(v, training=True) for v in getattr(batch, key))
            for key in ("large_views", "small_views")
        })

    def _embed(self, views, encoder, heads, training):
        """(n views of (B, H, W, C)) -> ((n, B, D) float32 L2-normalised, (B, F)).

        The second output is the encoder features of the first view.
        """
        if self.fuse_views and len(views) > 1:
            features = encoder(ops.concatenate(views, axis=0), training=training)
            x = features
            for net in heads:
                x = net(x, training=training)
            z = ops.reshape(x, (len(views), -1, x.shape[-1]))
            first = ops.reshape(features, (len(views), -1, features.shape[-1]))[0]
        else:
            outs, first = [], None
            for view in views:
                x = encoder(view, training=training)
                first = x if first is None else first
                for net in heads:
                    x = net(x, training=training)
                outs.append(x)
            z = ops.stack(outs, axis=0)
        return ops.normalize(ops.cast(z, "float32"), axis=-1), first

    def _embed_views(self, batch, training):
        """Step 1: online predictions of every view (V, B, D), the large views
        first; target projections of the large views (L, B, D), gradient
        stopped; encoder features of the first large view (B, F)."""
        heads = (self.projector, self.predictor)
        online, features = self._embed(batch.large_views, self.encoder, heads, training)
        if batch.small_views:
            small, _ = self._embed(batch.small_views, self.encoder, heads, training)
            online = ops.concatenate([online, small], axis=0)
        with replicas.no_grad():
            target, _ = self._embed(
                batch.large_views, self.target_encoder, (self.target_projector,), training
            )
        return online, ops.stop_gradient(target), features

    def _pseudo_label(self, online, target, queue, ids):
        """Step 2: (B,) k-NN pseudo-labels of the large views (-1 = no vote).

        The queries are the online predictions (``pseudo_label_query``
        "online") or the target projections ("target") of the large views.
        """
        if self.pseudo_label_query == "online":
            queries = ops.stop_gradient(online[: self.num_large_views])
        else:
            queries = target
        pseudo, _ = self.knn(queries, queue.embeddings, queue.labels, queue.ids, ids)
        return pseudo

    def _draw_negatives(self, global_batch_size, num_views):
        """Step 3a: negative indices into the global batch, this replica's rows.

        (V, L, B, N), a fresh draw per contrastive pair, with
        ``negatives_per_pair``; else (B, N), one draw shared by all pairs.
        """
        if not self.negatives_per_pair:
            return replicas.this_replica_rows(
                sample_negative_indices(global_batch_size, self.num_negatives, self.negative_seed)
            )
        indices = sample_pair_negative_indices(
            num_views, self.num_large_views, global_batch_size, self.num_negatives,
            self.negative_seed)
        rows_first = replicas.this_replica_rows(ops.transpose(indices, (2, 0, 1, 3)))
        return ops.transpose(rows_first, (1, 2, 0, 3))

    def _draw_positives(self, queue, global_anchor_labels, global_ids):
        """Step 3b: semantic positives from the queue, this replica's rows.

        Returns:
            ``(positives, mask, labels)``: (L, B, P, D) queue embeddings,
            (B, P) bool where a positive exists, (B, P) their queue labels.
        """
        slots, mask = self.positive_sampler(
            queue.labels, queue.ids, global_anchor_labels, global_ids
        )
        slots = replicas.this_replica_rows(slots)
        mask = replicas.this_replica_rows(mask)
        return ops.take(queue.embeddings, slots, axis=1), mask, ops.take(queue.labels, slots)

    def _no_positives(self, online):
        """``semantic_positives=False``: one dummy positive, masked out.

        The objective keeps its shapes; L_sempos and I_sempos are exactly 0
        (masked means), and no k-NN vote or queue write runs.
        """
        batch_size = online.shape[1]
        positives = ops.zeros((self.num_large_views, batch_size, 1, online.shape[-1]), "float32")
        return positives, ops.zeros((batch_size, 1), "bool")

    def _probe_terms(self, features, batch):
        """Step 4, online probe: cross-entropy on labelled rows, per-row hits.

        Args:
            features: (B, F) encoder features of the first large view.
        Returns:
            ``(loss, correct)``: scalar mean cross-entropy over the labelled
            rows (0 when none), (B,) bool, the probe's top-1 hits against the
            best known class (label, else hidden true label).
        """
        logits = ops.cast(self.probe(ops.stop_gradient(features)), "float32")
        labels = batch.labels
        labelled = ops.cast(ops.greater_equal(labels, 0), "float32")
        per_row = keras.losses.sparse_categorical_crossentropy(
            ops.maximum(labels, 0), logits, from_logits=True
        )
        loss = ops.sum(per_row * labelled) / ops.maximum(ops.sum(labelled), 1.0)
        known = ops.where(ops.greater_equal(labels, 0), labels, batch.true_labels)
        correct = ops.equal(ops.cast(ops.argmax(logits, axis=-1), "int32"), known)
        return loss, correct

    def _update_target(self):
        """Step 6: the target EMA, with tau from the optimizer's step count."""
        total = self.target_decay_steps
        if total is None:
            total = getattr(self, "_fit_decay_steps", None)
        tau = target_network.target_decay(self.optimizer.iterations, self.target_decay_base, total)
        self.target_decay.assign(tau)
        target_network.ema_update(self._target_pairs, tau)

    def _enqueue(self, global_target, global_labels, global_ids):
        """Step 7: the labelled examples of the global batch enter the queue."""
        self.queue.enqueue(
            global_target, global_labels, global_ids, ops.greater_equal(global_labels, 0)
        )

    # ------------------------------------------------------------------- fit
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, **kwargs):
        """`keras.Model.compile` with the optimizer only.

        SemPPL's loss and metrics are its own (`loss_terms`, the step's
        metrics); a ``loss``, ``metrics``, ``loss_weights`` or
        ``weighted_metrics`` argument would be ignored, so it is an error.
        """
        given = dict(loss=loss, metrics=metrics, loss_weights=kwargs.get("loss_weights"),
                     weighted_metrics=kwargs.get("weighted_metrics"))
        for name, value in given.items():
            if value is not None:
                raise ValueError(
                    f"SemPPL.compile(): `{name}` is not supported (got {value!r}); the "
                    "SemPPL objective and its metrics are built in. Pass only the "
                    "optimizer (and e.g. `steps_per_execution`).")
        kwargs.pop("loss_weights", None)
        kwargs.pop("weighted_metrics", None)
        super().compile(optimizer=optimizer, **kwargs)

    def compile_from_config(self, config):
        """Re-compiles a loaded model (Keras skips models that override `compile`)."""
        config = keras.saving.deserialize_keras_object(config)
        for name in ("loss", "metrics", "loss_weights", "weighted_metrics"):
            config.pop(name, None)  # None in every file this class writes
        self.compile(**config)
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto",
            callbacks=None, **kwargs):
        """`keras.Model.fit`, with SemPPL's input checks and guards.

        Before training, the inputs are checked where the data allows (labels
        in [-1, num_classes), images float in [0, 1] and finite; see
        `keras_semppl.models.label_guard`); NumPy inputs whose length is not
        a multiple of the batch size lose their last incomplete batch, with a
        warning. During training, a non-finite loss term or weight raises
        `keras_semppl.callbacks.DivergenceError` naming the step and the term
        (`DivergenceGuard`), and an epoch at a learning rate of 0 warns
        (`ZeroLearningRateWarning`).

        Also: ``shuffle`` defaults to False for data that shuffles itself
        (`tf.data`, generators), and with ``target_decay_steps=None`` the EMA
        schedule spans ``epochs`` x steps per epoch (``epochs`` counts from 0
        across calls, as Keras' ``initial_epoch`` does).
        """
        x, y = guard_labels(x, y, self.num_classes)
        x, y = drop_remainder(x, y, batch_size)
        if "shuffle" not in kwargs and not _is_array_data(x):
            kwargs["shuffle"] = False
        if self.target_decay_steps is None:
            steps = _steps_per_epoch(x, dict(kwargs, batch_size=batch_size))
            # Keras counts epochs from 0 across calls (initial_epoch), as the
            # optimizer counts steps: the schedule ends at this call's last
            # epoch. Changing K retraces the step, so it is kept when equal.
            total = None if steps is None else steps * int(epochs)
            if total != getattr(self, "_fit_decay_steps", None):
                self._fit_decay_steps = total
                self.train_function = None  # the step reads K when traced
        if callbacks is None:
            callbacks = []
        if isinstance(callbacks, (list, tuple)):
            callbacks = [DivergenceGuard(self.finite_check_names), ZeroLearningRateWarning(),
                         *callbacks]
        return super().fit(x, y, batch_size=batch_size, epochs=epochs, verbose=verbose,
                           callbacks=callbacks, **kwargs)

    # ----------------------------------------------------------- persistence
    def _seed_generators_in_order(self):
        """Every `keras.random.SeedGenerator` of the model and its layers, in a
        fixed order (negative sampling, positive sampling, augmentation...)."""
        generators, seen = [], set()
        for layer in self._flatten_layers(include_self=True, recursive=True):
            for generator in layer._seed_generators:
                if id(generator) not in seen:
                    seen.add(id(generator))
                    generators.append(generator)
        return generators

    def save_own_variables(self, store):
        """Keras' own variables, plus the state of every random-seed generator.

        Keras leaves `SeedGenerator` states out of `.keras` files; without
        them a reloaded model draws other negatives and positives than the
        uninterrupted run would (resumed training is not reproducible).
        """
        super().save_own_variables(store)
        for i, generator in enumerate(self._seed_generators_in_order()):
            store[f"{_SEED_KEY}{i}"] = generator.state

    def load_own_variables(self, store):
        """Inverse of `save_own_variables`; files without seed states load too."""
        keys = list(store.keys())
        own = self._trainable_variables + self._non_trainable_variables
        plain = [k for k in keys if not k.startswith(_SEED_KEY)]
        if len(plain) != len(own):
            raise ValueError(
                f"The saved SemPPL model holds {len(plain)} variables of its own; this "
                f"model has {len(own)} ({[v.name for v in own]}).")
        for i, variable in enumerate(own):
            variable.assign(store[f"{i}"])
        for i, generator in enumerate(self._seed_generators_in_order()):
            key = f"{_SEED_KEY}{i}"
            if key in keys:
                generator.state.assign(
                    ops.cast(ops.convert_to_tensor(store[key]), generator.state.dtype))

    def extract_encoder(self):
        """The online encoder, for downstream use (a `keras.Model`)."""
        return self.encoder

    def get_config(self):
        config = super().get_config()
        config.update(
            encoder=keras.saving.serialize_keras_object(self.encoder),
            num_classes=self.num_classes,
            num_large_views=self.num_large_views,
            num_small_views=self.num_small_views,
            projector_hidden_dim=self.projector_hidden_dim,
            projection_dim=self.projection_dim,
            predictor_hidden_dim=self.predictor_hidden_dim,
            queue_size=self.queue_size,
            knn_k=self.knn_k,
            num_negatives=self.num_negatives,
            num_semantic_positives=self.num_semantic_positives,
            temperature=self.temperature,
            c=self.c,
            alpha=self.alpha,
            lambda_invariance=self.lambda_invariance,
            target_decay_base=self.target_decay_base,
            target_decay_steps=self.target_decay_steps,
            fuse_views=self.fuse_views,
            semantic_positives=self.semantic_positives,
            seed=self.seed,
            sync_batch_norm=self.sync_batch_norm,
            view_augmentation=None
            if self.view_augmentation is None
            else keras.saving.serialize_keras_object(self.view_augmentation),
            online_probe=self.online_probe,
            same_view_pairs=self.same_view_pairs,
            invariance=self.invariance,
            invariance_on_semantic_positives=self.invariance_on_semantic_positives,
            negatives_per_pair=self.negatives_per_pair,
            pseudo_label_query=self.pseudo_label_query,
            semantic_trust=self.semantic_trust,
        )
        return config

    @classmethod
    def from_config(cls, config):
        # A deep copy: deserialising the sub-objects consumes their configs.
        config = copy.deepcopy(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        if config.get("view_augmentation") is not None:
            config["view_augmentation"] = keras.saving.deserialize_keras_object(
                config["view_augmentation"]
            )
        return cls(**config)


def _is_array_data(x):
    """True for in-memory arrays (or dicts / tuples of them), which Keras shuffles."""
    leaves = keras.tree.flatten(x) if isinstance(x, (dict, list, tuple)) else [x]
    return bool(leaves) and all(hasattr(leaf, "shape") and hasattr(leaf, "dtype")
                                for leaf in leaves)


def _steps_per_epoch(x, bound):
    """Optimizer steps in one epoch of ``fit(x, ...)``, or None when unknown."""
    if bound.get("steps_per_epoch"):
        return int(bound["steps_per_epoch"])
    if _is_array_data(x):
        rows = len(keras.tree.flatten(x)[0])
        rows -= int(rows * (bound.get("validation_split") or 0.0))
        batch = bound.get("batch_size") or 32
        return max(1, -(-rows // batch))
    cardinality = getattr(x, "cardinality", None)
    if callable(cardinality):  # tf.data.Dataset
        count = int(cardinality())
        return count if count > 0 else None
    try:  # keras.utils.PyDataset, torch DataLoader
        return len(x) or None
    except TypeError:
        return None

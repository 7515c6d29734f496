"""The SemPPL model: a `keras.Model` that trains with plain `fit`.

Online network: encoder -> projector -> predictor. Target network: a copy of
encoder -> projector, moved towards the online one by an EMA after every
optimizer step (BYOL). A queue of labelled target projections feeds a k-NN
pseudo-labeller and the semantic positives (SemPPL, Bošnjak et al., ICLR 2023).
Losses: `keras_semppl.losses.semppl_objective`.

Per-backend stepping comes from `keras_semppl.models.trainers` (chosen at
import); everything here is backend-free `keras.ops`.
"""

import keras
from keras import ops

from keras_semppl.batch import parse_batch
from keras_semppl.encoders.checks import check_encoder
from keras_semppl.layers.embedding_queue import EmbeddingQueue
from keras_semppl.layers.knn_pseudo_labeler import KNNPseudoLabeler
from keras_semppl.layers.mlp_head import MLPHead
from keras_semppl.layers.positive_sampler import SemanticPositiveSampler
from keras_semppl.layers.positive_sampler import sample_negative_indices
from keras_semppl.losses.semppl_objective import semppl_objective
from keras_semppl.models.trainers import Trainer
from keras_semppl.schedules.ema_momentum import ema_momentum

LOSS_TERMS = ("loss", "l_augm", "l_sempos", "i_augm", "i_sempos")


def _positive_int(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value!r}.")


def _positive_float(name, value, allow_zero=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number; got {value!r}.")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound}; got {value!r}.")


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
        knn_k: neighbours per (view, queue) pair in the vote (MAE-CT_SemPPL: 1).
        num_negatives: sampled negatives per anchor (ReLICv2, MAE-CT_SemPPL: 10).
        num_semantic_positives: P per anchor (MAE-CT_SemPPL: 3).
        temperature: InfoNCE temperature (MAE-CT_SemPPL: 0.15).
        c: weight of the contrastive terms (MAE-CT_SemPPL: 0.3).
        alpha: weight of L_sempos inside them (MAE-CT_SemPPL: 0.2).
        lambda_invariance: weight of ReLIC's KL penalties (MAE-CT_SemPPL: 5).
        target_decay_base: tau_base of BYOL's EMA (0.99 short runs, 0.996 long).
        target_decay_steps: K of BYOL's cosine EMA schedule (total training
            steps); None keeps tau at tau_base.
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
        c=0.3,
        alpha=0.2,
        lambda_invariance=5.0,
        target_decay_base=0.99,
        target_decay_steps=None,
        fuse_views=True,
        semantic_positives=True,
        seed=None,
        sync_batch_norm=True,
        view_augmentation=None,
        online_probe=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_encoder(encoder)
        _positive_int("num_classes", num_classes, minimum=2)
        _positive_int("num_large_views", num_large_views)
        _positive_int("num_small_views", num_small_views, minimum=0)
        for name in ("projector_hidden_dim", "projection_dim", "predictor_hidden_dim",
                     "queue_size", "knn_k", "num_negatives", "num_semantic_positives"):
            _positive_int(name, locals()[name])
        if knn_k > queue_size:
            raise ValueError(f"knn_k={knn_k} is larger than queue_size={queue_size}.")
        if num_semantic_positives > queue_size:
            raise ValueError(
                f"num_semantic_positives={num_semantic_positives} is larger than "
                f"queue_size={queue_size}."
            )
        _positive_float("temperature", temperature)
        for name in ("c", "alpha", "lambda_invariance"):
            _positive_float(name, locals()[name], allow_zero=True)
        if not 0.0 <= target_decay_base <= 1.0:
            raise ValueError(f"target_decay_base must be in [0, 1]; got {target_decay_base!r}.")
        if target_decay_steps is not None:
            _positive_int("target_decay_steps", target_decay_steps)
        input_shape = tuple(encoder.inputs[0].shape)
        if len(input_shape) != 4:
            raise ValueError(
                f"The encoder's input must be images (batch, height, width, "
                f"channels); its input shape is {input_shape}."
            )
        if num_small_views > 0 and (input_shape[1] is not None or input_shape[2] is not None):
            raise ValueError(
                "num_small_views > 0 needs an encoder that accepts any image size "
                f"(input shape (None, None, None, C)); its input shape is {input_shape}."
            )

        # Networks.
        feature_dim = int(encoder.outputs[0].shape[-1])
        self.encoder = encoder
        self.projector = MLPHead(projector_hidden_dim, projection_dim, name="projector")
        self.predictor = MLPHead(predictor_hidden_dim, projection_dim, name="predictor")
        self.projector.build((None, feature_dim))
        self.predictor.build((None, projection_dim))
        self.target_encoder = keras.models.clone_model(encoder)
        self.target_encoder.name = "target_" + encoder.name
        self.target_projector = MLPHead.from_config(
            dict(self.projector.get_config(), name="target_projector")
        )
        self.target_projector.build((None, feature_dim))
        if sync_batch_norm and keras.backend.backend() == "tensorflow":
            # BatchNormalization reads `synchronized` at call time (TF only).
            for head in (self.projector, self.predictor, self.target_projector):
                if head.norm is not None:
                    head.norm.synchronized = True
        self._ema_pairs = self._pair_target_with_online()

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
        self.online_probe = bool(online_probe)
        if self.online_probe:
            self.probe = keras.layers.Dense(num_classes, name="online_probe")
            self.probe.build((None, feature_dim))

        # Monitors (progress bar, History, TensorBoard).
        self._term_trackers = [keras.metrics.Mean(name=name) for name in LOSS_TERMS]
        self.pseudo_label_accuracy = keras.metrics.Mean(name="pseudo_label_accuracy")
        self.pseudo_label_coverage = keras.metrics.Mean(name="pseudo_label_coverage")
        self.labelled_knn_accuracy = keras.metrics.Mean(name="labelled_knn_accuracy")
        self.semantic_positive_precision = keras.metrics.Mean(
            name="semantic_positive_precision"
        )
        self._probe_trackers = []
        if self.online_probe:
            self._probe_trackers = [
                keras.metrics.Mean(name="probe_loss"),
                keras.metrics.Mean(name="probe_accuracy"),
            ]

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
        if view_augmentation is not None and not isinstance(view_augmentation, keras.layers.Layer):
            raise ValueError(
                "view_augmentation must be a keras.layers.Layer or None; got "
                f"{type(view_augmentation).__name__}."
            )
        self.view_augmentation = view_augmentation
        self.built = True

    # ----------------------------------------------------------------- target
    def _pair_target_with_online(self):
        """(target, online) variable pairs for the EMA; freezes the target.

        The target's variables are marked non-trainable one by one, so that its
        BatchNorm layers still normalise with batch statistics in training (as
        BYOL's target does) while no optimizer ever sees them. The target's
        BatchNorm moving statistics follow its own forward passes.
        """
        pairs = []
        for online_net, target_net in (
            (self.encoder, self.target_encoder),
            (self.projector, self.target_projector),
        ):
            online_w, target_w = online_net.weights, target_net.weights
            if len(online_w) != len(target_w):
                raise ValueError(
                    f"Could not copy '{online_net.name}' into a target network: "
                    f"{len(online_w)} vs {len(target_w)} weights. The encoder must "
                    "be clonable with keras.models.clone_model."
                )
            for o, t in zip(online_w, target_w):
                if tuple(o.shape) != tuple(t.shape):
                    raise ValueError(
                        f"Target weight {t.path} has shape {t.shape}, online "
                        f"{o.path} has {o.shape}."
                    )
                # A copy, never the same buffer (JAX donates buffers).
                t.assign(ops.convert_to_numpy(o.value).copy())
                if o.trainable:
                    pairs.append((t, o))
                t.trainable = False
        return pairs

    def _update_target(self):
        """target <- tau * target + (1 - tau) * online, after the optimizer step."""
        if self.target_decay_steps is None:
            tau = ops.convert_to_tensor(self.target_decay_base, "float32")
        else:
            tau = ema_momentum(
                self.optimizer.iterations, self.target_decay_steps, self.target_decay_base
            )
        self.target_decay.assign(tau)
        for target, online in self._ema_pairs:
            tau_t = ops.cast(tau, target.dtype)
            target.assign(tau_t * target.value + (1.0 - tau_t) * ops.stop_gradient(online.value))

    # ---------------------------------------------------------------- forward
    def call(self, images, training=False):
        """Online encoder features: (B, H, W, C) -> (B, F)."""
        return self.encoder(images, training=training)

    def _parse(self, data):
        batch = parse_batch(data, self.num_large_views, self.num_small_views)
        expected = tuple(self.encoder.inputs[0].shape[1:])
        for name, views in (("large", batch.large_views), ("small", batch.small_views)):
            for view in views:
                got = tuple(view.shape[1:])
                mismatch = any(
                    e is not None and g is not None and e != g for e, g in zip(expected, got)
                )
                if mismatch:
                    raise ValueError(
                        f"A {name} view has image shape {got} (height, width, "
                        f"channels) but the encoder expects {expected}."
                    )
        return batch

    def _embed(self, views, encoder, heads, training, return_features=False):
        """(n views of (B, H, W, C)) -> (n, B, D) float32, L2-normalised.

        With ``return_features``, also the encoder features of the first
        view, (B, F), as a second output.
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
        z = ops.normalize(ops.cast(z, "float32"), axis=-1)
        return (z, first) if return_features else z

    def _forward(self, batch, training, update_queue):
        """Losses and monitors of one step; writes the queue when asked.

        Returns:
            ``(terms, monitors)``: the dict of `semppl_objective` plus
            ``objective``, the scalar the trainers differentiate (``loss``,
            plus the online probe's cross-entropy when there is a probe), and
            per-example monitoring values (pseudo-labels, masks).
        """
        terms, monitors, features = self._forward_terms(batch, training, update_queue)
        objective = terms["loss"]
        if self.online_probe:
            probe_loss, probe_correct = self._probe_terms(features, batch)
            terms = dict(terms, probe_loss=probe_loss)
            monitors = dict(monitors, probe_correct=probe_correct)
            objective = objective + probe_loss
        return dict(terms, objective=objective), monitors

    def _probe_terms(self, features, batch):
        """Online probe: cross-entropy on labelled rows, per-row correctness.

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

    def _forward_terms(self, batch, training, update_queue):
        """`_forward` without the probe; also returns first-view features."""
        if training and getattr(self.view_augmentation, "augments_all_views", False):
            # e.g. DeviceViews: one augmentation per view, all views at once.
            views = {"large_views": batch.large_views, "small_views": batch.small_views}
            views = self.view_augmentation(views, training=True)
            batch = batch._replace(large_views=tuple(views["large_views"]),
                                   small_views=tuple(views["small_views"]))
        elif training and self.view_augmentation is not None:
            batch = batch._replace(**{
                key: tuple(self.view_augmentation(v, training=True) for v in getattr(batch, key))
                for key in ("large_views", "small_views")
            })
        heads = (self.projector, self.predictor)
        online, features = self._embed(
            batch.large_views, self.encoder, heads, training, return_features=True
        )
        if batch.small_views:
            small = self._embed(batch.small_views, self.encoder, heads, training)
            online = ops.concatenate([online, small], axis=0)
        with self._no_grad():
            target = self._embed(
                batch.large_views, self.target_encoder, (self.target_projector,), training
            )
        target = ops.stop_gradient(target)

        labels, ids = batch.labels, batch.ids
        if not self.semantic_positives:
            terms, monitors = self._forward_augmentation_only(online, target, batch)
            return terms, monitors, features
        q_emb = ops.stop_gradient(self.queue.embeddings.value)
        q_labels, q_ids = self.queue.labels.value, self.queue.ids.value
        online_large = ops.stop_gradient(online[: self.num_large_views])
        pseudo, _ = self.knn(online_large, q_emb, q_labels, q_ids, ids)
        labelled = ops.greater_equal(labels, 0)
        anchor_labels = ops.where(labelled, labels, pseudo)

        batch_size = online.shape[1]
        if batch_size is None:
            raise ValueError(
                "SemPPL needs a static batch size; batch the dataset with "
                "drop_remainder=True."
            )
        # Under a tf.distribute strategy each replica holds B / R examples:
        # negatives, positives and the queue write use the all-gathered global
        # batch (same random draws on every replica, this replica's rows), so
        # the step equals a single-device one (issue 5). Elsewhere (one
        # device, JAX DataParallel's global batch) these are identities.
        global_target = self._all_gather_replicas(target, axis=1)
        global_labels = self._all_gather_replicas(labels)
        global_ids = self._all_gather_replicas(ids)
        global_anchor_labels = self._all_gather_replicas(anchor_labels)
        negatives = self._this_replica_rows(
            sample_negative_indices(
                global_target.shape[1], self.num_negatives, self.negative_seed
            )
        )
        slots, positive_mask = self.positive_sampler(
            q_labels, q_ids, global_anchor_labels, global_ids
        )
        slots = self._this_replica_rows(slots)
        positive_mask = self._this_replica_rows(positive_mask)
        positives = ops.take(q_emb, slots, axis=1)  # (L, B, P, D)
        terms = semppl_objective(
            online,
            target,
            negatives,
            positives,
            positive_mask,
            self.temperature,
            self.c,
            self.alpha,
            self.lambda_invariance,
            negative_pool=global_target,
        )
        if update_queue:
            self.queue.enqueue(
                global_target, global_labels, global_ids, ops.greater_equal(global_labels, 0)
            )
        monitors = {
            "labels": labels,
            "pseudo": pseudo,
            "true_labels": batch.true_labels,
            # Queue labels of the drawn semantic positives (B, P) and their mask.
            "positive_labels": ops.take(q_labels, slots),
            "positive_mask": positive_mask,
        }
        return terms, monitors, features

    def _forward_augmentation_only(self, online, target, batch):
        """`semantic_positives=False`: augmentation terms only, no queue/k-NN.

        One dummy semantic positive with an all-False mask keeps the
        objective's shapes; its terms are exactly 0 (masked means).
        """
        batch_size = online.shape[1]
        negatives = sample_negative_indices(batch_size, self.num_negatives, self.negative_seed)
        positives = ops.zeros((self.num_large_views, batch_size, 1, online.shape[-1]), "float32")
        positive_mask = ops.zeros((batch_size, 1), "bool")
        terms = semppl_objective(
            online, target, negatives, positives, positive_mask,
            self.temperature, self.c, self.alpha, self.lambda_invariance,
        )
        pseudo = ops.full_like(batch.labels, -1)
        monitors = {"labels": batch.labels, "pseudo": pseudo, "true_labels": batch.true_labels}
        return terms, monitors

    def _after_step(self, terms, monitors, update_target):
        """EMA of the target (training only), then metric updates; returns logs."""
        if update_target:
            self._update_target()
        for tracker in self._term_trackers:
            tracker.update_state(terms[tracker.name])
        labels, pseudo, truth = monitors["labels"], monitors["pseudo"], monitors["true_labels"]
        unlabelled = ops.less(labels, 0)
        has_pseudo = ops.greater_equal(pseudo, 0)
        known = ops.logical_and(unlabelled, ops.greater_equal(truth, 0))
        if self.online_probe:
            # Training: rows the probe never trained on; evaluation: any class.
            scored = known if update_target else ops.logical_or(
                ops.greater_equal(labels, 0), ops.greater_equal(truth, 0)
            )
            self._probe_trackers[0].update_state(terms["probe_loss"])
            self._probe_trackers[1].update_state(
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
            sample_weight=ops.cast(ops.logical_and(ops.logical_not(unlabelled), has_pseudo), "float32"),
        )
        # Semantic positives of unlabelled anchors with a known hidden class:
        # share of drawn queue entries whose (true) label is that class.
        if "positive_labels" in monitors:
            pos_labels = monitors["positive_labels"]
            pos_weight = ops.logical_and(monitors["positive_mask"], known[:, None])
            self.semantic_positive_precision.update_state(
                ops.reshape(ops.cast(ops.equal(pos_labels, truth[:, None]), "float32"), (-1,)),
                sample_weight=ops.reshape(ops.cast(pos_weight, "float32"), (-1,)),
            )
        return {m.name: m.result() for m in self.metrics}

    @property
    def metrics(self):
        return self._term_trackers + [
            self.pseudo_label_accuracy,
            self.pseudo_label_coverage,
            self.labelled_knn_accuracy,
            self.semantic_positive_precision,
        ] + self._probe_trackers

    # ------------------------------------------------------------------- fit
    def fit(self, x=None, y=None, *args, **kwargs):
        """`keras.Model.fit`, after checking that labels lie in [-1, num_classes)."""
        from keras_semppl.data.label_guard import guard_labels

        x, y = guard_labels(x, y, self.num_classes)
        return super().fit(x, y, *args, **kwargs)

    # ----------------------------------------------------------- persistence
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
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        if config.get("view_augmentation") is not None:
            config["view_augmentation"] = keras.saving.deserialize_keras_object(
                config["view_augmentation"]
            )
        return cls(**config)

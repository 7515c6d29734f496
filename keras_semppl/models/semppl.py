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
from keras_semppl.callbacks.compact_progbar import CompactProgbarLogger
from keras_semppl.callbacks.guards import NONFINITE_KEY
from keras_semppl.callbacks.guards import STATE_CHECKS
from keras_semppl.callbacks.guards import DivergenceGuard
from keras_semppl.callbacks.guards import ZeroLearningRateWarning
from keras_semppl.callbacks.guards import state_finite_flags
from keras_semppl.data.fit_inputs import prepare_fit_inputs
from keras_semppl.distribute import replicas
from keras_semppl.encoders.checks import check_encoder
from keras_semppl.io.portable import portable_compile_config
from keras_semppl.io.portable import saved_dtype_policy
from keras_semppl.layers.embedding_queue import EmbeddingQueue
from keras_semppl.layers.knn_pseudo_labeler import KNNPseudoLabeler
from keras_semppl.layers.mlp_head import MLPHead
from keras_semppl.layers.positive_sampler import SemanticPositiveSampler
from keras_semppl.layers.positive_sampler import sample_negative_indices
from keras_semppl.layers.positive_sampler import sample_pair_negative_indices
from keras_semppl.layers.pseudo_label_trust import PseudoLabelTrust
from keras_semppl.losses.semppl_objective import semppl_objective
from keras_semppl.models import options as model_options
from keras_semppl.models import target as target_network
from keras_semppl.models.options import SemPPLOptions
from keras_semppl.models.step_metrics import TERM_NAMES
from keras_semppl.models.step_metrics import StepMetrics
from keras_semppl.models.step_metrics import disabled_metrics
from keras_semppl.models.trainers import Trainer
from keras_semppl.models.trainers.base import StepOutputs
from keras_semppl.schedules.ema_horizon import EMAHorizon

# Store keys of the seed-generator states in a saved model.
_SEED_KEY = "seed_state_"


def _check_encoder_for(encoder, options):
    """Raises ValueError unless ``encoder`` can serve a model with ``options``."""
    check_encoder(encoder)
    input_shape = tuple(encoder.inputs[0].shape)
    if len(input_shape) != 4:
        raise ValueError(
            f"The encoder's input must be images (batch, height, width, "
            f"channels); its input shape is {input_shape}."
        )
    if options.num_small_views > 0 and (input_shape[1] is not None
                                        or input_shape[2] is not None):
        raise ValueError(
            "num_small_views > 0 needs an encoder that accepts any image size "
            f"(input shape (None, None, None, C)); its input shape is {input_shape}."
        )


def _split_kwargs(kwargs):
    """(options given as keywords, the rest: `keras.Model`'s own keywords)."""
    names = set(SemPPLOptions.names())
    return ({k: v for k, v in kwargs.items() if k in names},
            {k: v for k, v in kwargs.items() if k not in names})


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
        num_classes, and every option below: keywords (or positionally after
            ``encoder``), checked before any network is built; each is also a
            read-only attribute (``model.queue_size``) and part of
            ``get_config()``. ``model.options`` holds them all.
        **kwargs: `keras.Model`'s own (``name``, ``dtype``...).
    """

    def __init__(self, encoder, *args, **kwargs):
        if len(args) > len(SemPPLOptions.names()):
            raise TypeError(f"SemPPL takes at most {len(SemPPLOptions.names())} options "
                            f"after the encoder; got {len(args)} positional arguments.")
        given, model_kwargs = _split_kwargs(kwargs)
        for name, value in zip(SemPPLOptions.names(), args):
            if name in given:
                raise TypeError(f"SemPPL got two values for {name!r}.")
            given[name] = value
        if "num_classes" not in given:
            raise TypeError("SemPPL needs num_classes (the number of labelled classes).")
        options = SemPPLOptions(**given)
        _check_encoder_for(encoder, options)
        super().__init__(**model_kwargs)
        self.options = options
        o = options

        # Networks: online, then the frozen target copy. (The order of
        # construction fixes the random initial weights: keep it.)
        feature_dim = int(encoder.outputs[0].shape[-1])
        heads = dict(sync_batch_norm=o.sync_batch_norm)
        self.encoder = encoder
        self.projector = MLPHead(o.projector_hidden_dim, o.projection_dim, name="projector",
                                 **heads)
        self.predictor = MLPHead(o.predictor_hidden_dim, o.projection_dim, name="predictor",
                                 **heads)
        self.projector.build((None, feature_dim))
        self.predictor.build((None, o.projection_dim))
        self.target_encoder = target_network.clone_network(encoder, "target_" + encoder.name)
        self.target_projector = target_network.clone_network(
            self.projector, "target_projector", input_shape=(None, feature_dim)
        )
        self._target_pairs = target_network.freeze_as_copy(
            [(self.encoder, self.target_encoder), (self.projector, self.target_projector)]
        )

        # Queue, pseudo-labels, sampling.
        self.queue = EmbeddingQueue(o.num_large_views, o.queue_size, o.projection_dim,
                                    name="queue")
        self.knn = KNNPseudoLabeler(o.num_classes, o.knn_k, name="knn")
        self.positive_sampler = SemanticPositiveSampler(
            o.num_semantic_positives, seed=o.seed, name="positive_sampler"
        )
        self.negative_seed = keras.random.SeedGenerator(
            None if o.seed is None else o.seed + 1, name="negative_seed"
        )
        self.target_decay = keras.Variable(
            o.target_decay_base, trainable=False, dtype="float32", name="target_decay"
        )
        self.ema_horizon = EMAHorizon(o.target_decay_steps)
        # Built last, so that it leaves the random draws of the rest unchanged.
        if o.online_probe:
            self.probe = keras.layers.Dense(o.num_classes, name="online_probe")
            self.probe.build((None, feature_dim))
        # How far pseudo-labels are trusted (a running estimate; no random draws).
        if o.semantic_trust == "estimated":
            self.pseudo_label_trust = PseudoLabelTrust(o.num_classes, name="pseudo_label_trust")
        # Monitors (progress bar, History, TensorBoard).
        self.step_metrics = StepMetrics(online_probe=o.online_probe,
                                        hidden=disabled_metrics(o))
        # The one option that is a layer: an attribute, so that Keras tracks it.
        self.view_augmentation = o.view_augmentation
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
        if self._trusts_estimated:
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
                if self._trusts_estimated:
                    self.pseudo_label_trust.update(replicas.all_gather(step.monitors["pseudo"]),
                                                   replicas.all_gather(step.monitors["labels"]))
        self.step_metrics.update(step.terms, step.monitors, training=training)
        logs = self.step_metrics.results()
        if self._trusts_estimated:
            logs["semantic_trust"] = self.pseudo_label_trust.kappa()
        if training:
            logs[NONFINITE_KEY] = self._nonfinite_mask(step.terms)
        return logs

    @property
    def _trusts_estimated(self):
        """Semantic positives weighted by the running trust estimate."""
        return self.semantic_positives and self.semantic_trust == "estimated"

    @property
    def finite_check_names(self):
        """What the bits of the step's non-finite mask stand for, in order."""
        names = tuple(TERM_NAMES) + ("objective",)
        if self.online_probe:
            names += ("probe_loss",)
        return names + STATE_CHECKS

    def _nonfinite_mask(self, terms):
        """float32 scalar: sum of 2**i over the checks i that are not finite.

        The checks are the loss terms (``finite_check_names``) and, last,
        every float variable a checkpoint saves, after the optimizer step
        (`state_finite_flags`: a NaN input can leave the loss finite while
        every weight is NaN, a huge step can leave the weights finite while a
        BatchNorm moving variance or an optimizer moment is inf).
        """
        names = self.finite_check_names
        flags = [ops.all(ops.isfinite(ops.cast(terms[name], "float32")))
                 for name in names[:-len(STATE_CHECKS)]]
        flags += state_finite_flags(self)
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
        with keras.StatelessScope(), self._no_grad():
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
        with self._no_grad():
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
        tau = target_network.target_decay(
            self.optimizer.iterations, self.target_decay_base, self.ema_horizon.total_steps)
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
        config = keras.saving.deserialize_keras_object(portable_compile_config(config))
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
        `keras_semppl.data.fit_inputs`); NumPy inputs whose length is not
        a multiple of the batch size lose their last incomplete batch, with a
        warning. During training, a non-finite loss term or weight raises
        `keras_semppl.callbacks.DivergenceError` naming the step and the term
        (`DivergenceGuard`), and an epoch at a learning rate of 0 warns
        (`ZeroLearningRateWarning`).

        Also: ``shuffle`` defaults to False for data that shuffles itself
        (`tf.data`, generators), and the EMA schedule's length comes from
        ``self.ema_horizon`` (`keras_semppl.schedules.EMAHorizon`).
        """
        x, y, kwargs, steps = prepare_fit_inputs(x, y, batch_size, self.num_classes, kwargs)
        if self.ema_horizon.for_fit(epochs, steps):
            self.train_function = None  # the step reads K when traced
        if callbacks is None:
            callbacks = []
        if isinstance(callbacks, (list, tuple)):
            callbacks = [DivergenceGuard(self.finite_check_names), ZeroLearningRateWarning(),
                         *callbacks]
            if not any(isinstance(c, keras.callbacks.ProgbarLogger) for c in callbacks):
                callbacks.append(CompactProgbarLogger())
        return super().fit(x, y, batch_size=batch_size, epochs=epochs, verbose=verbose,
                           callbacks=callbacks, **kwargs)

    def set_run_length(self, total_steps):
        """The EMA schedule spans a run of ``total_steps`` optimizer steps,
        whatever the `fit` calls it is made of (see `EMAHorizon`)."""
        if self.ema_horizon.set_run_length(total_steps):
            self.train_function = None

    # ----------------------------------------------------------- persistence
    def seed_generators(self):
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
        for i, generator in enumerate(self.seed_generators()):
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
        for i, generator in enumerate(self.seed_generators()):
            key = f"{_SEED_KEY}{i}"
            if key in keys:
                generator.state.assign(
                    ops.cast(ops.convert_to_tensor(store[key]), generator.state.dtype))

    def extract_encoder(self):
        """The online encoder, for downstream use (a `keras.Model`)."""
        return self.encoder

    def get_config(self):
        config = super().get_config()
        config.update(encoder=keras.saving.serialize_keras_object(self.encoder),
                      **self.options.to_config())
        return config

    @classmethod
    def from_config(cls, config):
        # A deep copy: deserialising the sub-objects consumes their configs.
        config = copy.deepcopy(config)
        with saved_dtype_policy(config):  # the file's policy wins, for every layer
            encoder = keras.saving.deserialize_keras_object(config.pop("encoder"))
            options = SemPPLOptions.config_to_kwargs(config)
            rest = {k: v for k, v in config.items() if k not in options}
            return cls(encoder, **options, **rest)


def _option_attribute(name):
    return property(lambda self: getattr(self.options, name),
                    doc=SemPPLOptions.__dataclass_fields__[name].metadata["doc"])


# Each option (but the layer, tracked as an attribute) is a read-only attribute;
# the constructor's signature and docstring list them from the same declaration.
for _name in SemPPLOptions.names():
    if _name != "view_augmentation":
        setattr(SemPPL, _name, _option_attribute(_name))
SemPPL.__init__.__signature__ = model_options.signature()
SemPPL.__doc__ += "\n" + "\n".join("    " + line for line in model_options.docs().splitlines())

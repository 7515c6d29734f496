"""The options of the SemPPL model, declared once.

`SemPPLOptions` is the single declaration: each field carries its default,
its check and its one-line documentation (with the source of the default).
From it come `SemPPL`'s constructor signature, its read-only attributes
(``model.queue_size``), ``get_config`` / ``from_config`` and the "Options"
section of its docstring. Every check runs when the options are built, before
any network is.

Why the defaults are what they are (screening runs and their images):
`docs/method.md` and `benchmarks/NOTES.md`.
"""

import dataclasses
import inspect

import keras

from keras_semppl import arguments
from keras_semppl.losses.semppl_objective import INVARIANCES

PSEUDO_LABEL_QUERIES = ("online", "target")
SEMANTIC_TRUSTS = ("estimated", "none")


def _option(default, doc, check):
    return dataclasses.field(default=default, metadata={"doc": doc, "check": check})


def _layer_or_none(name, value):
    if value is not None and not isinstance(value, keras.layers.Layer):
        raise ValueError(
            f"{name} must be a keras.layers.Layer or None; got {type(value).__name__}.")
    return value


_int = arguments.positive_int


@dataclasses.dataclass(frozen=True)
class SemPPLOptions:
    """Every option of `keras_semppl.SemPPL` but the encoder; see the module docstring."""

    num_classes: int = dataclasses.field(metadata={
        "doc": "C, the number of classes of the labelled data.",
        "check": lambda name, v: _int(name, v, minimum=2)})
    num_large_views: int = _option(
        2, "L, large views per example (BYOL's pair; MAE-CT_SemPPL: 4).", _int)
    num_small_views: int = _option(
        0, "S, small views per example (MAE-CT_SemPPL: 2); needs an encoder "
           "that accepts any image size.", lambda name, v: _int(name, v, minimum=0))
    projector_hidden_dim: int = _option(4096, "Projector MLP width (BYOL: 4096).", _int)
    projection_dim: int = _option(256, "D, the embedding size (BYOL: 256).", _int)
    predictor_hidden_dim: int = _option(4096, "Predictor MLP width (BYOL: 4096).", _int)
    queue_size: int = _option(
        2560, "Q, queue slots per large view (MAE-CT_SemPPL: 2,560 at CIFAR scale).", _int)
    knn_k: int = _option(
        1, "Neighbours per (view, queue) pair in the pseudo-label vote (MAE-CT_SemPPL: 1).",
        _int)
    num_negatives: int = _option(
        10, "N, sampled negatives per anchor (ReLICv2, MAE-CT_SemPPL: 10).", _int)
    num_semantic_positives: int = _option(
        3, "P, semantic positives drawn per anchor (MAE-CT_SemPPL: 3).", _int)
    temperature: float = _option(
        0.15, "InfoNCE temperature (MAE-CT_SemPPL: 0.15).",
        lambda name, v: arguments.number(name, v, minimum=0.0, allow_minimum=False))
    c: float = _option(
        1.0, "Weight of the contrastive terms; fixes the loss unit (what matters "
             "is alpha and lambda_invariance / c).",
        lambda name, v: arguments.number(name, v, minimum=0.0))
    alpha: float = _option(
        1.0, "Weight of L_sempos relative to L_augm (the ratio MAE-CT_SemPPL "
             "effectively trains with is about 0.92-0.94).",
        lambda name, v: arguments.number(name, v, minimum=0.0))
    lambda_invariance: float = _option(
        0.3, "Weight of the invariance penalty. With ReLIC's KL, which is 0 at "
             "collapse, lambda_invariance / c must stay small for collapse not to "
             "be the cheapest state (tests/test_collapse.py).",
        lambda name, v: arguments.number(name, v, minimum=0.0))
    target_decay_base: float = _option(
        0.99, "tau_base of BYOL's target EMA (0.99 short runs, 0.996 long).",
        lambda name, v: arguments.number(name, v, minimum=0.0, maximum=1.0))
    target_decay_steps: int = _option(
        None, "K of BYOL's cosine EMA schedule. None: the run's length "
              "(`keras_semppl.schedules.EMAHorizon`).", arguments.optional_positive_int)
    fuse_views: bool = _option(
        True, "Run all large views through the encoder as one batch (BatchNorm then "
              "normalises over all views, as SimCLR); False: each view alone (BYOL).",
        arguments.flag)
    semantic_positives: bool = _option(
        True, "False: no k-NN vote, positive draw or queue writes (L_sempos = "
              "I_sempos = 0); BYOL/ReLIC's augmentation terms only, for ablations.",
        arguments.flag)
    seed: int = _option(None, "Seed of the negative and positive sampling.",
                        arguments.optional_int)
    sync_batch_norm: bool = _option(
        True, "Heads' BatchNorm on the global batch under a tf.distribute strategy or "
              "torch's data parallel over processes (BYOL's cross-replica BN); on JAX "
              "BatchNorm already sees it.",
        arguments.flag)
    view_augmentation: keras.layers.Layer = _option(
        None, "Optional serialisable layer applied to every view batch inside the "
              "train step; one with `augments_all_views = True` (e.g. "
              "`keras_semppl.augment.DeviceViews`) gets all views at once.",
        _layer_or_none)
    online_probe: bool = _option(
        False, "Add a linear classifier on stop-gradient features of the first view, "
               "trained on the labelled examples (BYOL's online classifier); a monitor.",
        arguments.flag)
    same_view_pairs: bool = _option(
        False, "Also contrast large view i with its own target (ReLICv2's pseudo-code and "
               "MAE-CT_SemPPL loop over all (i, j)); False, our choice: those pairs carry "
               "no augmentation-invariance signal.", arguments.flag)
    invariance: str = _option(
        "kl", f"The invariance penalty, one of {INVARIANCES}: ReLIC's KL (the paper's), "
              "MAE-CT_SemPPL's signed cross-entropies, or none.",
        lambda name, v: arguments.one_of(name, v, INVARIANCES))
    invariance_on_semantic_positives: bool = _option(
        False, "Also apply the invariance penalty to the semantic-positive logits.",
        arguments.flag)
    negatives_per_pair: bool = _option(
        True, "A fresh negative draw for every contrastive pair (as MAE-CT_SemPPL); "
              "False shares one draw.", arguments.flag)
    pseudo_label_query: str = _option(
        "online", f"Which embeddings vote against the queue, one of {PSEUDO_LABEL_QUERIES}: "
                  "online predictions (the paper's Figure 1) or target projections.",
        lambda name, v: arguments.one_of(name, v, PSEUDO_LABEL_QUERIES))
    semantic_trust: str = _option(
        "estimated", f"How far L_sempos trusts a pseudo-labelled anchor's semantic positives, "
                     f"one of {SEMANTIC_TRUSTS}. estimated: each row is the trust-corrected "
                     "InfoNCE -log(kappa q_0 + (1 - kappa) / (1 + N)), kappa 1 for labelled "
                     "anchors and the running chance-corrected precision of the k-NN vote on "
                     "labelled examples for the others (`keras_semppl.layers.PseudoLabelTrust`, "
                     "logged as semantic_trust; needs example ids); none: the paper's InfoNCE.",
        lambda name, v: arguments.one_of(name, v, SEMANTIC_TRUSTS))

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = field.metadata["check"](field.name, getattr(self, field.name))
            object.__setattr__(self, field.name, value)
        for name in ("knn_k", "num_semantic_positives"):
            if getattr(self, name) > self.queue_size:
                raise ValueError(
                    f"{name}={getattr(self, name)} is larger than queue_size={self.queue_size}.")

    @classmethod
    def names(cls):
        return tuple(field.name for field in dataclasses.fields(cls))

    def to_config(self):
        """{name: JSON-able value}; layers serialised with Keras."""
        config = {name: getattr(self, name) for name in self.names()}
        if self.view_augmentation is not None:
            config["view_augmentation"] = keras.saving.serialize_keras_object(
                self.view_augmentation)
        return config

    #: Options that files written before they existed trained without: a
    #: config that lacks one gets this value, not today's default.
    BEFORE_THE_OPTION = {"semantic_trust": "none"}

    @classmethod
    def config_to_kwargs(cls, config):
        """Inverse of `to_config` for the options in ``config`` (layers rebuilt)."""
        kwargs = {name: config[name] for name in cls.names() if name in config}
        for name, value in cls.BEFORE_THE_OPTION.items():
            kwargs.setdefault(name, value)
        if kwargs.get("view_augmentation") is not None:
            kwargs["view_augmentation"] = keras.saving.deserialize_keras_object(
                kwargs["view_augmentation"])
        return kwargs


def signature(leading=("self", "encoder")):
    """`inspect.Signature` of ``SemPPL.__init__``: the leading names, the options, **kwargs."""
    params = [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD)
              for name in leading]
    for field in dataclasses.fields(SemPPLOptions):
        default = (inspect.Parameter.empty if field.default is dataclasses.MISSING
                   else field.default)
        params.append(inspect.Parameter(
            field.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default))
    params.append(inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD))
    return inspect.Signature(params)


def docs():
    """The "Options" section of `SemPPL`'s docstring, one entry per option."""
    lines = ["Options (`keras_semppl.models.options.SemPPLOptions`):"]
    for field in dataclasses.fields(SemPPLOptions):
        default = "required" if field.default is dataclasses.MISSING else repr(field.default)
        lines.append(f"    {field.name} ({default}): {field.metadata['doc']}")
    return "\n".join(lines)

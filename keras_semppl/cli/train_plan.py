"""`semppl train`, part one: the command line -> an immutable `TrainPlan`.

Imports no Keras (a fast ``--help`` and one-line errors before the backend
loads); `keras_semppl.cli.train_run` executes the plan. What the command
does for the user: `keras_semppl.cli.train`.

The command line is resolved once, by `resolve_plan`, into an immutable
`TrainPlan` (every default filled in, every check done); the model's options
come from `TrainPlan.model_kwargs` alone.
"""

import argparse
import dataclasses
import os
from typing import Optional

from keras_semppl.cli import train_processes
from keras_semppl.cli.train_presets import PRESETS
from keras_semppl.cli.train_presets import apply_preset
from keras_semppl.cli.train_presets import preset_fills
from keras_semppl.cli.train_presets import train_preset
from keras_semppl.precision import PRECISIONS

#: `keras_semppl.distribute.NAMES`, repeated here so that parsing the command
#: line imports no Keras (tests/test_package.py checks they agree).
DISTRIBUTION_NAMES = ("auto", "none", "data_parallel", "mirrored", "multi_worker", "tpu")

ENCODERS = ("small_convnet", "resnet18", "resnet50")
VIEW_PRESETS = ("digits", "cifar", "imagenet")
AUGMENT_PLACEMENTS = ("host", "device")

#: Built-in values of the flags a preset may set. Their argparse default is
#: None, so that `keras_semppl.cli.train_presets.apply_preset` can tell a
#: flag the user gave (which always wins) from one left out.
DEFAULTS = dict(
    dataset="digits",
    epochs=40,
    batch_size=128,
    labelled_per_batch=32,
    encoder="small_convnet",
    augment_on="host",
    learning_rate=5e-3,
    queue_size=512,
    projection_dim=64,
    hidden_dim=256,
    baseline=True,
    classical=True,
)


def add_arguments(parser):
    parser.add_argument("--preset", default=None, metavar="NAME",
                        help="a named set of flag values; a flag given explicitly overrides "
                             "the preset's value. " + "; ".join(
                                 f"{p.name}: {p.summary}" for p in PRESETS.values()) + ".")
    parser.add_argument("--dataset", default=None,
                        help='"digits" (default), "folder:PATH" or a TFDS name such as cifar10.')
    parser.add_argument("--data-dir", default=None, help="TFDS data directory.")
    parser.add_argument("--unlabelled-dir", default=None,
                        help="extra folder of unlabelled images (with --dataset folder:PATH).")
    parser.add_argument("--skip-corrupt", action="store_true",
                        help="skip undecodable image files (with --dataset folder:PATH) "
                             "instead of stopping; the summary counts them.")
    parser.add_argument("--val-fraction", type=float, default=None,
                        help="held-out share of the labelled pool when the data set has no "
                             "test split (default 0.1; digits 0.2).")
    parser.add_argument("--holdout", choices=("test", "validation"), default="test",
                        help="what the report scores on: the test split (default), or "
                             "'validation', a --val-fraction share of the unlabelled training "
                             "images (labels hidden from training) with the test images left "
                             "out; choose settings on it, never on the test split.")
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"SemPPL epochs (default {DEFAULTS['epochs']}).")
    parser.add_argument("--steps-per-epoch", type=int, default=None,
                        help="steps per epoch (repeats the data); default one pass over "
                             "the unlabelled examples.")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="global batch size: examples per optimizer step "
                             f"(default {DEFAULTS['batch_size']}).")
    parser.add_argument("--labelled-per-batch", type=int, default=None,
                        help="labelled examples in every batch (oversampled; default "
                             f"{DEFAULTS['labelled_per_batch']}); 0 = uniform batches.")
    parser.add_argument("--image-size", type=int, default=None,
                        help="images are resized to this side (default: digits 16, else the "
                             "data set's own size); digits views use it too.")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--label-fraction", type=float, default=None,
                        help="share of training labels kept, class-balanced (default 0.1).")
    budget.add_argument("--labels-per-class", type=int, default=None,
                        help="number of training labels kept per class.")
    parser.add_argument("--encoder", default=None, choices=ENCODERS,
                        help="the network being trained (default small_convnet; resnet18 "
                             "for CIFAR-size images, resnet50 for ImageNet-size).")
    parser.add_argument("--views-preset", default=None, choices=VIEW_PRESETS,
                        help="view sizes/counts: digits (views at --image-size, no flips), "
                             "cifar (32/16 px), imagenet (224/96 px); default digits for the "
                             "digits data set, else cifar.")
    parser.add_argument("--augment-on", default=None, choices=AUGMENT_PLACEMENTS,
                        help="where the views are augmented: host (tf.data, default) or "
                             "device (inside the compiled train step, on the accelerator).")
    parser.add_argument("--learning-rate", type=float, default=None,
                        help="peak AdamW learning rate (warm-up cosine; default "
                             f"{DEFAULTS['learning_rate']}).")
    parser.add_argument("--queue-size", type=int, default=None,
                        help="labelled embeddings kept per large view for the pseudo-label "
                             "vote and the semantic positives "
                             f"(default {DEFAULTS['queue_size']}).")
    parser.add_argument("--knn-k", type=int, default=1, help="k of the pseudo-label vote.")
    parser.add_argument("--num-large-views", type=int, default=None,
                        help="L (default 2 for digits, else the preset's 4).")
    parser.add_argument("--num-small-views", type=int, default=None,
                        help="S (default 0 for digits, else the preset's 2).")
    parser.add_argument("--projection-dim", type=int, default=None,
                        help="size of the embeddings the loss compares (default "
                             f"{DEFAULTS['projection_dim']}).")
    parser.add_argument("--hidden-dim", type=int, default=None,
                        help="width of the projector and predictor MLPs (default "
                             f"{DEFAULTS['hidden_dim']}).")
    parser.add_argument("--lambda-invariance", type=float, default=None,
                        help="weight of the KL invariance penalty (default: SemPPL's, 0.3).")
    parser.add_argument("--no-semantic-positives", action="store_true",
                        help="ablation: no pseudo-labels, no semantic positives, no queue.")
    parser.add_argument("--online-probe", action="store_true",
                        help="train BYOL's online linear probe on stop-gradient features "
                             "(metrics probe_loss, probe_accuracy; a monitor only).")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the labelled subset, the initial weights, the views and "
                             "the sampling (default 0).")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="bf16: Keras' mixed_bfloat16 policy for every model of the run "
                             "(losses, queue and target EMA stay float32); fp32: float32; "
                             "auto (default): bf16 where it is faster: a TPU, an NVIDIA GPU "
                             "from Ampere on, or a CPU with AMX-BF16 or AVX512-BF16 training "
                             "a ResNet on TensorFlow or torch; else fp32 (on a CPU bf16 "
                             "measured slower for small_convnet and on JAX).")
    parser.add_argument("--output", default=None,
                        help="where the trained model is saved (.keras; default "
                             "runs/semppl_digits.keras for digits, else runs/semppl.keras).")
    parser.add_argument("--checkpoint-dir", default=None, metavar="DIR",
                        help="save the model atomically into DIR at every epoch end; "
                             "rerunning the same command resumes exactly from the latest.")
    parser.add_argument("--checkpoint-every-steps", type=int, default=None, metavar="N",
                        help="with --checkpoint-dir, also save every N optimizer steps.")
    parser.add_argument("--keep", type=int, default=3, metavar="K",
                        help="with --checkpoint-dir, keep the newest K checkpoints (default 3).")
    parser.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=None,
                        help="train the supervised baseline, the same encoder with its own "
                             "cross-validated recipe (default: yes; --no-baseline skips it).")
    parser.add_argument("--classical", action=argparse.BooleanOptionalAction, default=None,
                        help="report the raw-pixel baselines (k-NN, logistic regression, "
                             "RBF SVM, LabelSpreading, each tuned by cross-validation on the "
                             "labels; default: yes; --no-classical skips them).")
    parser.add_argument("--report-json", default=None, metavar="PATH",
                        help="also write the final report (the last printed line) to PATH.")
    parser.add_argument("--distribute", default="none", choices=DISTRIBUTION_NAMES,
                        help="engine; auto picks one from the visible devices (default none; "
                             "in a multi-process job, JAX's or torchrun's, data_parallel).")
    parser.add_argument("--tpu", default=None, help="TPU name or address for --distribute tpu.")
    train_processes.add_arguments(parser)
    parser.add_argument("--logdir", default=None, metavar="DIR",
                        help="write TensorBoard logs into DIR: loss terms, pseudo-label "
                             "accuracy, learning rate and the held-out k-NN accuracy "
                             "(val_knn_accuracy) per epoch (`tensorboard --logdir DIR`).")
    parser.add_argument("--plots", default=None, metavar="DIR",
                        help="write history.json and training_curves.png into DIR.")
    parser.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2),
                        help="0: silent; 1: a progress bar (default); 2: one line per epoch.")


# -------------------------------------------------------------------- plan
@dataclasses.dataclass(frozen=True)
class TrainPlan:
    """Everything `semppl train` does, resolved from the command line.

    Data: ``dataset`` (spec), ``data_dir``, ``unlabelled_dir``,
    ``image_size`` (None: the data set's own), ``val_fraction``,
    ``holdout`` ("test" or "validation"), ``label_fraction`` /
    ``labels_per_class`` (the label budget).
    Views: ``views_preset``, ``num_large_views``, ``num_small_views``.
    Model: ``encoder`` and the `SemPPL` arguments below. Training:
    ``epochs``, ``steps_per_epoch`` (None: one pass), ``batch_size``,
    ``labelled_per_batch`` (None: uniform batches), ``learning_rate``,
    ``distribute``, ``tpu``. Afterwards: ``baseline``, ``classical``,
    ``plots``, ``output``, ``report_json``. ``preset``: the ``--preset``
    name, and ``training_budget_minutes``: its budget for the training
    steps, which the projected time printed after the warm-up is compared
    with (None without a preset).
    """

    dataset: str
    data_dir: Optional[str]
    unlabelled_dir: Optional[str]
    image_size: Optional[int]
    val_fraction: float
    holdout: str
    label_fraction: Optional[float]
    labels_per_class: Optional[int]
    views_preset: str
    augment_on: str
    num_large_views: int
    num_small_views: int
    encoder: str
    queue_size: int
    knn_k: int
    projection_dim: int
    hidden_dim: int
    lambda_invariance: Optional[float]
    semantic_positives: bool
    online_probe: bool
    epochs: int
    steps_per_epoch: Optional[int]
    batch_size: int
    labelled_per_batch: Optional[int]
    learning_rate: float
    distribute: str
    tpu: Optional[str]
    baseline: bool
    classical: bool
    report_json: Optional[str]
    plots: Optional[str]
    logdir: Optional[str]
    output: str
    seed: int
    verbose: int
    skip_corrupt: bool
    checkpoint_dir: Optional[str]
    checkpoint_every_steps: Optional[int]
    keep: int
    precision: str
    preset: Optional[str] = None  # the --preset the values came from
    training_budget_minutes: Optional[float] = None  # the preset's, for the projection
    coordinator_address: Optional[str] = None  # a JAX multi-process job
    num_processes: Optional[int] = None  # (keras_semppl.cli.train_processes)
    process_id: Optional[int] = None

    @property
    def is_digits(self):
        return self.dataset == "digits"

    def views(self, image_side):
        """The `ViewSet` of the plan's preset and counts; ``image_side``: the data's."""
        from keras_semppl.augment.presets import view_preset

        if self.views_preset == "digits":
            return digits_view_configs(self.num_large_views, self.image_size or image_side)
        return view_preset(self.views_preset, self.num_large_views, self.num_small_views)

    def model_kwargs(self):
        """The `keras_semppl.SemPPL` options this plan sets (the encoder, the
        number of classes and a device augmentation come from the data)."""
        kwargs = dict(
            num_large_views=self.num_large_views,
            num_small_views=self.num_small_views,
            projector_hidden_dim=self.hidden_dim,
            projection_dim=self.projection_dim,
            predictor_hidden_dim=self.hidden_dim,
            queue_size=self.queue_size,
            knn_k=self.knn_k,
            semantic_positives=self.semantic_positives,
            online_probe=self.online_probe,
            seed=self.seed,
        )
        if self.lambda_invariance is not None:
            kwargs["lambda_invariance"] = self.lambda_invariance
        return kwargs


def _fail(flag, message):
    raise SystemExit(f"{flag} {message}")


def _check_dataset_flags(args):
    if not isinstance(args.dataset, str) or not args.dataset.strip():
        _fail("--dataset", "must not be empty.")
    if args.dataset.startswith("folder:") and not args.dataset[len("folder:"):]:
        _fail("--dataset", "folder:PATH needs a path.")
    if args.unlabelled_dir is not None and not args.dataset.startswith("folder:"):
        _fail("--unlabelled-dir", f"needs --dataset folder:PATH; got --dataset {args.dataset!r}.")
    if args.skip_corrupt and not args.dataset.startswith("folder:"):
        _fail("--skip-corrupt", f"needs --dataset folder:PATH; got --dataset {args.dataset!r}.")


def _check_numbers(args):
    for name in ("epochs", "batch_size", "queue_size", "image_size", "steps_per_epoch",
                 "labels_per_class", "num_large_views"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            _fail(f"--{name.replace('_', '-')}", f"must be positive; got {value}.")
    if args.num_small_views is not None and args.num_small_views < 0:
        _fail("--num-small-views", f"must be >= 0; got {args.num_small_views}.")
    if args.label_fraction is not None and not 0 < args.label_fraction <= 1:
        _fail("--label-fraction", f"must be in (0, 1]; got {args.label_fraction}.")
    if args.val_fraction is not None and not 0 <= args.val_fraction < 1:
        _fail("--val-fraction", f"must be in [0, 1); got {args.val_fraction}.")
    if args.queue_size < args.batch_size:
        _fail("--queue-size", f"must be at least --batch-size={args.batch_size} (a batch's "
              f"labelled examples enter the queue at once); got {args.queue_size}.")
    if args.knn_k <= 0 or args.knn_k > args.queue_size:
        _fail("--knn-k", f"must be in [1, --queue-size={args.queue_size}]; got {args.knn_k}.")
    every = args.checkpoint_every_steps
    if every is not None and every <= 0:
        _fail("--checkpoint-every-steps", f"must be positive; got {every}.")
    if args.keep <= 0:
        _fail("--keep", f"must be positive; got {args.keep}.")
    if every is not None and args.checkpoint_dir is None:
        _fail("--checkpoint-every-steps", "needs --checkpoint-dir.")
    if not 0 <= args.labelled_per_batch < args.batch_size:
        _fail("--labelled-per-batch",
              f"must be in [0, --batch-size={args.batch_size}); got {args.labelled_per_batch}.")


def _view_counts(preset, num_large, num_small):
    """(L, S) of a preset, the flags overriding its defaults."""
    if preset == "digits":
        if num_small:
            _fail("--num-small-views", "must be 0 with --views-preset digits.")
        return (2 if num_large is None else num_large), 0
    from keras_semppl.augment.presets import PRESETS

    _, _, default_large, default_small = PRESETS[preset]
    return (default_large if num_large is None else num_large,
            default_small if num_small is None else num_small)


def _with_preset(args):
    """(``args`` with the --preset's values and the built-in defaults filled
    in, the `TrainPreset` or None, the destinations the preset filled)."""
    if getattr(args, "preset", None) is None:
        return apply_preset(args, DEFAULTS), None, set()
    try:
        preset = train_preset(args.preset)
    except ValueError as error:
        raise SystemExit(f"--preset: {error}") from None
    return apply_preset(args, DEFAULTS, preset), preset, preset_fills(args, preset)


def _blame_preset(message, preset, filled, args):
    """A check's message, saying so when its flag's value came from the preset."""
    flag = message.split(" ", 1)[0].rstrip(":")
    name = flag.lstrip("-").replace("-", "_")
    if name not in filled:
        return message
    return (f"{message} ({flag} {getattr(args, name)} is the {preset.name} preset's value; "
            f"give {flag} as well.)")


def resolve_plan(args):
    """The parsed arguments -> a `TrainPlan`; SystemExit naming the bad flag.

    With ``--preset NAME`` the preset's values fill every flag left out; a
    flag given explicitly keeps its value (`keras_semppl.cli.train_presets`).
    """
    args, named, filled = _with_preset(args)
    try:
        _check_dataset_flags(args)
        _check_numbers(args)
        train_processes.check_flags(args)
    except SystemExit as error:
        raise SystemExit(_blame_preset(str(error.code), named, filled, args)) from None
    digits = args.dataset == "digits"
    output = args.output or ("runs/semppl_digits.keras" if digits else "runs/semppl.keras")
    if not output.endswith(".keras"):
        _fail("--output", f"must end with .keras; got {output!r}.")
    from keras_semppl.io.atomic import check_writable_folder

    for flag, path in (("--output", output), ("--report-json", args.report_json),
                       ("--plots", None if args.plots is None
                        else os.path.join(args.plots, "history.json")),
                       ("--checkpoint-dir", None if args.checkpoint_dir is None
                        else os.path.join(args.checkpoint_dir, "ckpt.keras"))):
        if path is not None:
            try:
                check_writable_folder(path, flag)
            except ValueError as error:
                raise SystemExit(str(error)) from None
    preset = args.views_preset or ("digits" if digits else "cifar")
    num_large, num_small = _view_counts(preset, args.num_large_views, args.num_small_views)
    no_budget = args.label_fraction is None and args.labels_per_class is None
    return TrainPlan(
        dataset=args.dataset.strip(),
        data_dir=args.data_dir,
        unlabelled_dir=args.unlabelled_dir,
        image_size=16 if args.image_size is None and digits else args.image_size,
        val_fraction=(0.2 if digits else 0.1) if args.val_fraction is None else args.val_fraction,
        holdout=args.holdout,
        label_fraction=0.1 if no_budget else args.label_fraction,
        labels_per_class=args.labels_per_class,
        views_preset=preset,
        augment_on=args.augment_on,
        num_large_views=num_large,
        num_small_views=num_small,
        encoder=args.encoder,
        queue_size=args.queue_size,
        knn_k=args.knn_k,
        projection_dim=args.projection_dim,
        hidden_dim=args.hidden_dim,
        lambda_invariance=args.lambda_invariance,
        semantic_positives=not args.no_semantic_positives,
        online_probe=args.online_probe,
        epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch,
        batch_size=args.batch_size,
        labelled_per_batch=args.labelled_per_batch or None,
        learning_rate=args.learning_rate,
        distribute=args.distribute,
        tpu=args.tpu,
        baseline=args.baseline,
        classical=args.classical,
        report_json=args.report_json,
        plots=args.plots,
        logdir=args.logdir,
        output=output,
        seed=args.seed,
        verbose=args.verbose,
        skip_corrupt=args.skip_corrupt,
        precision=args.precision,
        checkpoint_dir=args.checkpoint_dir,
        checkpoint_every_steps=args.checkpoint_every_steps,
        keep=args.keep,
        preset=None if named is None else named.name,
        training_budget_minutes=None if named is None else named.training_minutes,
        coordinator_address=args.coordinator_address,
        num_processes=args.num_processes,
        process_id=args.process_id,
    )


def digits_view_configs(num_large, size):
    """BYOL views adapted to digits: the "digits" preset of
    `keras_semppl.augment.presets` (its values and their reasons live there)."""
    from keras_semppl.augment.presets import view_preset

    return view_preset("digits", num_large=num_large, num_small=0, large_size=size)

"""Train SemPPL (default: the embedded digits set) and compare with a supervised baseline.

With no arguments: scikit-learn's bundled 8x8 digits, resized, 10% of the
training labels kept (14 per class); trains SemPPL, then the same encoder
supervised on the labelled images only, and reports the held-out accuracy of
both under every protocol (`keras_semppl.evaluation.method_comparison`), next
to classical raw-pixel baselines.

`--dataset` picks other data: "folder:PATH" (PATH/<class>/<image>, plus an
optional `--unlabelled-dir`) or a TFDS name ("cifar10", "cifar100", "stl10",
"imagenette/160px-v2", prepared in `--data-dir`; never downloads). The
held-out set is the data set's test/validation split where it has one,
else a stratified `--val-fraction` of the labelled pool.

The command line is resolved once, by `resolve_plan`, into an immutable
`TrainPlan` (every default filled in, every check done); `execute` then only
reads the plan: data -> views -> distribution -> fit -> plots -> evaluation
-> baseline -> save.
"""

import dataclasses
import json
import os
import time
from typing import Optional

#: `keras_semppl.distribute.NAMES`, repeated here so that parsing the command
#: line imports no Keras (tests/test_package.py checks they agree).
DISTRIBUTION_NAMES = ("auto", "none", "data_parallel", "mirrored", "multi_worker", "tpu")

ENCODERS = ("small_convnet", "resnet18", "resnet50")
VIEW_PRESETS = ("digits", "cifar", "imagenet")
AUGMENT_PLACEMENTS = ("host", "device")


def add_arguments(parser):
    parser.add_argument("--dataset", default="digits",
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
    parser.add_argument("--epochs", type=int, default=40, help="SemPPL epochs (default 40).")
    parser.add_argument("--steps-per-epoch", type=int, default=None,
                        help="steps per epoch (repeats the data); default one pass over "
                             "the unlabelled examples.")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--labelled-per-batch", type=int, default=32,
                        help="labelled examples in every batch (oversampled); 0 = uniform batches.")
    parser.add_argument("--image-size", type=int, default=None,
                        help="images are resized to this side (default: digits 16, else the "
                             "data set's own size); digits views use it too.")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--label-fraction", type=float, default=None,
                        help="share of training labels kept, class-balanced (default 0.1).")
    budget.add_argument("--labels-per-class", type=int, default=None,
                        help="number of training labels kept per class.")
    parser.add_argument("--encoder", default="small_convnet", choices=ENCODERS)
    parser.add_argument("--views-preset", default=None, choices=VIEW_PRESETS,
                        help="view sizes/counts: digits (views at --image-size, no flips), "
                             "cifar (32/16 px), imagenet (224/96 px); default digits for the "
                             "digits data set, else cifar.")
    parser.add_argument("--augment-on", default="host", choices=AUGMENT_PLACEMENTS,
                        help="where the views are augmented: host (tf.data, default) or "
                             "device (inside the compiled train step, on the accelerator).")
    parser.add_argument("--learning-rate", type=float, default=5e-3,
                        help="peak AdamW learning rate (warm-up cosine; default 5e-3).")
    parser.add_argument("--queue-size", type=int, default=512)
    parser.add_argument("--knn-k", type=int, default=1, help="k of the pseudo-label vote.")
    parser.add_argument("--num-large-views", type=int, default=None,
                        help="L (default 2 for digits, else the preset's 4).")
    parser.add_argument("--num-small-views", type=int, default=None,
                        help="S (default 0 for digits, else the preset's 2).")
    parser.add_argument("--projection-dim", type=int, default=64)
    parser.add_argument("--hidden-dim", type=int, default=256)
    parser.add_argument("--lambda-invariance", type=float, default=None,
                        help="weight of the KL invariance penalty (default: SemPPL's, 0.3).")
    parser.add_argument("--no-semantic-positives", action="store_true",
                        help="ablation: no pseudo-labels, no semantic positives, no queue.")
    parser.add_argument("--online-probe", action="store_true",
                        help="train BYOL's online linear probe on stop-gradient features "
                             "(metrics probe_loss, probe_accuracy; a monitor only).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto",
                        help="bf16: Keras' mixed_bfloat16 policy for every model of the run "
                             "(losses, queue and target EMA stay float32); fp32: float32; "
                             "auto (default): bf16 where the hardware computes bfloat16 "
                             "natively (TPU, NVIDIA GPU from Ampere on, CPU with AMX-BF16 "
                             "or AVX512-BF16), else fp32.")
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
    parser.add_argument("--no-baseline", action="store_true", help="skip the supervised baseline.")
    parser.add_argument("--no-classical", action="store_true",
                        help="skip the raw-pixel baselines (k-NN, logistic regression, "
                             "LabelSpreading) in the report.")
    parser.add_argument("--report-json", default=None, metavar="PATH",
                        help="also write the final report (the last printed line) to PATH.")
    parser.add_argument("--distribute", default="none", choices=DISTRIBUTION_NAMES,
                        help="engine; auto picks one from the visible devices (default none).")
    parser.add_argument("--tpu", default=None, help="TPU name or address for --distribute tpu.")
    parser.add_argument("--logdir", default=None, metavar="DIR",
                        help="write TensorBoard logs into DIR: loss terms, pseudo-label "
                             "accuracy, learning rate and the held-out k-NN accuracy "
                             "(val_knn_accuracy) per epoch (`tensorboard --logdir DIR`).")
    parser.add_argument("--plots", default=None, metavar="DIR",
                        help="write history.json and training_curves.png into DIR.")
    parser.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2))


# -------------------------------------------------------------------- plan
@dataclasses.dataclass(frozen=True)
class TrainPlan:
    """Everything `semppl train` does, resolved from the command line.

    Data: ``dataset`` (spec), ``data_dir``, ``unlabelled_dir``,
    ``image_size`` (None: the data set's own), ``val_fraction``,
    ``label_fraction`` / ``labels_per_class`` (the label budget).
    Views: ``views_preset``, ``num_large_views``, ``num_small_views``.
    Model: ``encoder`` and the `SemPPL` arguments below. Training:
    ``epochs``, ``steps_per_epoch`` (None: one pass), ``batch_size``,
    ``labelled_per_batch`` (None: uniform batches), ``learning_rate``,
    ``distribute``, ``tpu``. Afterwards: ``baseline``, ``classical``,
    ``plots``, ``output``, ``report_json``.
    """

    dataset: str
    data_dir: Optional[str]
    unlabelled_dir: Optional[str]
    image_size: Optional[int]
    val_fraction: float
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
    skip_corrupt: bool = False
    checkpoint_dir: Optional[str] = None
    checkpoint_every_steps: Optional[int] = None
    keep: int = 3
    precision: str = "auto"

    @property
    def is_digits(self):
        return self.dataset == "digits"

    def views(self, image_side):
        """The `ViewSet` of the plan's preset and counts; ``image_side``: the data's."""
        from keras_semppl.augment.presets import view_preset

        if self.views_preset == "digits":
            return digits_view_configs(self.num_large_views, self.image_size or image_side)
        return view_preset(self.views_preset, self.num_large_views, self.num_small_views)


def _fail(flag, message):
    raise SystemExit(f"{flag} {message}")


def _check_dataset_flags(args):
    if not isinstance(args.dataset, str) or not args.dataset.strip():
        _fail("--dataset", "must not be empty.")
    if args.dataset.startswith("folder:") and not args.dataset[len("folder:"):]:
        _fail("--dataset", "folder:PATH needs a path.")
    if args.unlabelled_dir is not None and not args.dataset.startswith("folder:"):
        _fail("--unlabelled-dir", f"needs --dataset folder:PATH; got --dataset {args.dataset!r}.")
    if getattr(args, "skip_corrupt", False) and not args.dataset.startswith("folder:"):
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
    every = getattr(args, "checkpoint_every_steps", None)
    if every is not None and every <= 0:
        _fail("--checkpoint-every-steps", f"must be positive; got {every}.")
    if getattr(args, "keep", 3) <= 0:
        _fail("--keep", f"must be positive; got {args.keep}.")
    if every is not None and getattr(args, "checkpoint_dir", None) is None:
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


def resolve_plan(args):
    """The parsed arguments -> a `TrainPlan`; SystemExit naming the bad flag."""
    _check_dataset_flags(args)
    _check_numbers(args)
    digits = args.dataset == "digits"
    output = args.output or ("runs/semppl_digits.keras" if digits else "runs/semppl.keras")
    if not output.endswith(".keras"):
        _fail("--output", f"must end with .keras; got {output!r}.")
    from keras_semppl.io.atomic import check_writable_folder

    for flag, path in (("--output", output), ("--report-json", args.report_json),
                       ("--plots", None if args.plots is None
                        else os.path.join(args.plots, "history.json")),
                       ("--checkpoint-dir", None if getattr(args, "checkpoint_dir", None) is None
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
        baseline=not args.no_baseline,
        classical=not args.no_classical,
        report_json=args.report_json,
        plots=args.plots,
        logdir=args.logdir,
        output=output,
        seed=args.seed,
        verbose=args.verbose,
        skip_corrupt=getattr(args, "skip_corrupt", False),
        precision=args.precision,
        checkpoint_dir=getattr(args, "checkpoint_dir", None),
        checkpoint_every_steps=getattr(args, "checkpoint_every_steps", None),
        keep=getattr(args, "keep", 3),
    )


def digits_view_configs(num_large, size):
    """BYOL views adapted to digits: the "digits" preset of
    `keras_semppl.augment.presets` (its values and their reasons live there)."""
    from keras_semppl.augment.presets import view_preset

    return view_preset("digits", num_large=num_large, num_small=0, large_size=size)


# ------------------------------------------------------------------ stages
def load_data(plan):
    """The plan's `SemiSupervisedArrays` (SystemExit naming --dataset on errors)."""
    from keras_semppl.data.sources import resolve_dataset

    try:
        data = resolve_dataset(plan.dataset, data_dir=plan.data_dir,
                               image_size=plan.image_size,
                               label_fraction=plan.label_fraction,
                               labels_per_class=plan.labels_per_class, seed=plan.seed,
                               val_fraction=plan.val_fraction,
                               unlabelled_dir=plan.unlabelled_dir,
                               skip_corrupt=plan.skip_corrupt)
    except ValueError as error:
        hint = " Pass --image-size." if "image_size" in str(error) else ""
        hint += " Pass --skip-corrupt to skip such files." if "skip_corrupt" in str(error) else ""
        raise SystemExit(f"--dataset {plan.dataset!r}: {error}{hint}") from None
    if data.num_classes < 2:
        raise SystemExit(f"--dataset {plan.dataset!r}: found {data.num_classes} class; SemPPL "
                         "needs at least 2 (one sub-folder per class).")
    if len(data.val_labels) == 0:
        raise SystemExit("--val-fraction: the held-out set is empty; raise it.")
    return data


def build_encoder(plan, size, channels, name=None):
    """The plan's encoder for large views of side ``size``; any input size with small views."""
    from keras_semppl.encoders.resnet import resnet18
    from keras_semppl.encoders.resnet import resnet50
    from keras_semppl.encoders.small_convnet import small_convnet

    side = None if plan.num_small_views else size
    shape = (side, side, channels)
    kwargs = {} if name is None else {"name": name}
    if plan.encoder == "small_convnet":
        return small_convnet(shape, widths=(32, 64, 128), **kwargs)
    stem = "cifar" if size <= 64 else "imagenet"
    build = resnet18 if plan.encoder == "resnet18" else resnet50
    return build(input_shape=shape, stem=stem, **kwargs)


def epoch_seed(seed, epoch):
    """The data seed of one epoch under --checkpoint-dir: a function of (seed, epoch)."""
    return int(seed) * 100003 + int(epoch) + 1


def training_dataset(plan, data, view_fn, seed=None):
    """(tf.data batches of views, steps per epoch); ``seed`` overrides the plan's."""
    from keras_semppl.data.pipeline import make_training_dataset

    repeat = plan.steps_per_epoch is not None
    try:
        dataset = make_training_dataset(
            data.images, data.labels, plan.batch_size, view_fn, true_labels=data.true_labels,
            seed=plan.seed if seed is None else seed,
            labelled_per_batch=plan.labelled_per_batch,
            num_classes=data.num_classes, repeat=repeat)
    except ValueError as error:
        raise SystemExit(f"--batch-size/--labelled-per-batch: {error}") from None
    return dataset, plan.steps_per_epoch if repeat else int(dataset.cardinality())


def distribution(plan):
    """The `DistributionPlan` of --distribute (SystemExit naming it on errors)."""
    from keras_semppl.distribute import resolve_distribution

    try:
        engine = resolve_distribution(plan.distribute, tpu=plan.tpu)
        engine.check_batch_size(plan.batch_size)
    except (ValueError, NotImplementedError) as error:
        raise SystemExit(f"--distribute: {error}") from None
    return engine


def fit_semppl(plan, data, dataset, views, steps_per_epoch, epoch_dataset=None):
    """Builds, compiles and fits SemPPL; call inside the distribution scope.

    With ``--augment-on device`` the model augments the views itself
    (`DeviceViews` of the plan's ``views``). With ``--checkpoint-dir``,
    ``epoch_dataset(epoch)`` gives each epoch's batches and training resumes
    from the latest checkpoint (`keras_semppl.callbacks.fit_resumable`).

    Returns:
        (model, history dict, seconds).
    """
    import keras

    from keras_semppl.augment.device_views import DeviceViews
    from keras_semppl.schedules.warmup_cosine import warmup_cosine_decay

    channels = data.images.shape[-1]
    device_views = None
    if plan.augment_on == "device":
        device_views = DeviceViews(views.large, views.small, channels=channels, seed=plan.seed)
    total_steps = steps_per_epoch * plan.epochs
    options = {} if plan.lambda_invariance is None else {
        "lambda_invariance": plan.lambda_invariance}
    def build():
        model = _build_model(plan, data, views, channels, device_views, total_steps, options)
        schedule = warmup_cosine_decay(plan.learning_rate, total_steps,
                                       warmup_steps=min(2 * steps_per_epoch, total_steps))
        model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=1e-4))
        return model

    start = time.time()
    if plan.checkpoint_dir is not None:
        from keras_semppl.callbacks.checkpoint import fit_resumable
        from keras_semppl.callbacks.checkpoint import latest_checkpoint

        _check_same_run(plan)
        latest = latest_checkpoint(plan.checkpoint_dir)
        if latest is not None:
            print(f"resuming from {latest}")
        model, history = fit_resumable(
            build, epoch_dataset, plan.epochs, steps_per_epoch, plan.checkpoint_dir,
            every_steps=plan.checkpoint_every_steps, keep=plan.keep, verbose=plan.verbose,
            callbacks=tensorboard_callbacks(plan, data))
        return model, history, time.time() - start
    model = build()
    history = model.fit(dataset, epochs=plan.epochs, verbose=plan.verbose,
                        steps_per_epoch=plan.steps_per_epoch,
                        callbacks=tensorboard_callbacks(plan, data))
    return model, history.history, time.time() - start


# Plan fields that may change between a run and its resumption.
_FREE_ON_RESUME = ("verbose", "output", "plots", "report_json", "baseline", "classical",
                   "logdir", "checkpoint_dir", "checkpoint_every_steps", "keep")


def _check_same_run(plan):
    """Records the plan in --checkpoint-dir; SystemExit if it holds another run's.

    A checkpoint carries its own model and optimizer (schedule included), so
    resuming it under other training flags would silently mix two runs.
    """
    from keras_semppl.callbacks.run_record import check_run_record

    settings = {k: v for k, v in dataclasses.asdict(plan).items() if k not in _FREE_ON_RESUME}
    try:
        check_run_record(plan.checkpoint_dir, settings)
    except ValueError as error:
        raise SystemExit(f"--checkpoint-dir: {error}") from None


def _build_model(plan, data, views, channels, device_views, total_steps, options):
    from keras_semppl.models import SemPPL

    return SemPPL(
        build_encoder(plan, views.large[0].size, channels),
        num_classes=data.num_classes,
        num_large_views=plan.num_large_views,
        num_small_views=plan.num_small_views,
        projector_hidden_dim=plan.hidden_dim,
        projection_dim=plan.projection_dim,
        predictor_hidden_dim=plan.hidden_dim,
        queue_size=plan.queue_size,
        knn_k=plan.knn_k,
        semantic_positives=plan.semantic_positives,
        target_decay_steps=total_steps,
        online_probe=plan.online_probe,
        view_augmentation=device_views,
        seed=plan.seed,
        **options,
    )


def tensorboard_callbacks(plan, data):
    """With --logdir: the held-out k-NN monitor, then Keras' TensorBoard writer
    (in that order, so that the writer sees ``val_knn_accuracy``)."""
    if not plan.logdir:
        return []
    import keras

    from keras_semppl.callbacks.knn_monitor import KNNMonitor

    monitor = KNNMonitor(data.images, data.labels, data.val_images, data.val_labels,
                         data.num_classes)
    return [monitor, keras.callbacks.TensorBoard(plan.logdir, write_graph=False)]


def write_plots(plan, history):
    from keras_semppl.callbacks.history_io import save_history_json
    from keras_semppl.plots.training_curves import plot_training_curves

    os.makedirs(plan.plots, exist_ok=True)
    save_history_json(history, os.path.join(plan.plots, "history.json"))
    plot_training_curves(history, os.path.join(plan.plots, "training_curves.png"))
    print(f"wrote {plan.plots}/history.json and training_curves.png")


def train_baseline(plan, data, view_fn, size, steps):
    """The same encoder, supervised on the labelled images.

    Returns:
        ((classifier, encoder), seconds).
    """
    from keras_semppl.evaluation.supervised_baseline import train_supervised_baseline

    start = time.time()
    encoder = build_encoder(plan, size, data.images.shape[-1],
                            name=f"baseline_{plan.encoder.split('_')[-1]}")
    # Trained in place, as the trunk of the returned classifier.
    classifier = train_supervised_baseline(
        encoder, data.images, data.labels, data.num_classes, view_fn, steps=steps,
        learning_rate=plan.learning_rate, seed=plan.seed)
    return (classifier, encoder), time.time() - start


def print_report(plan, results):
    from keras_semppl.evaluation.method_comparison import comparison_table
    from keras_semppl.io.atomic import write_text

    what = "digits" if plan.is_digits else "images"
    print()
    print(f"held-out accuracy on {results['validation']} {what} "
          f"({results['labelled']} labels used, {results['knn_k']} per k-NN vote):")
    print(comparison_table(results["accuracy"], knn_k=results["knn_k"]))
    print("own classifier: SemPPL's k-NN pseudo-labeller over the labelled images, the "
          "baseline's softmax head.")
    if "final_pseudo_label_accuracy" in results:
        print(f"final pseudo-label accuracy (unlabelled, training): "
              f"{results['final_pseudo_label_accuracy']:.3f}")
    print(f"saved {plan.output}")
    line = json.dumps(results)
    if plan.report_json:
        write_text(plan.report_json, line + "\n")
    print(line)


def execute(plan):
    """Runs a resolved `TrainPlan`; returns the results printed as JSON.

    The run's precision is Keras' global dtype policy while it runs; the
    caller's policy is restored afterwards (`main` may be called in-process).
    """
    import keras

    before = keras.mixed_precision.global_policy()
    try:
        return _run(plan)
    finally:
        keras.mixed_precision.set_global_policy(before)


def _run(plan):
    import keras

    from keras_semppl.augment.host_views import make_view_fn
    from keras_semppl.evaluation.classical_baselines import knn_neighbours
    from keras_semppl.evaluation.post_training import held_out_comparison
    from keras_semppl.io.atomic import save_model
    from keras_semppl.precision import policy_name
    from keras_semppl.precision import resolve_precision

    start = time.time()
    precision, why = resolve_precision(plan.precision, tpu=plan.distribute == "tpu")
    keras.mixed_precision.set_global_policy(policy_name(precision))
    keras.utils.set_random_seed(plan.seed)
    data = load_data(plan)
    print(f"backend: {keras.backend.backend()}")
    print(f"precision: {precision} ({why})")
    print(data.summary())
    views = plan.views(data.images.shape[1])
    size = views.large[0].size
    if plan.augment_on == "device" and data.images.shape[1] != size:
        raise SystemExit(f"--augment-on device: the images ({data.images.shape[1]} px) must "
                         f"have the large view side ({size} px); pass --image-size {size}.")
    view_fn = make_view_fn(views, seed=plan.seed, placement=plan.augment_on)
    dataset, steps_per_epoch = training_dataset(plan, data, view_fn)
    engine = distribution(plan)
    print(f"distribution: {engine.description}")
    def epoch_dataset(epoch):
        return training_dataset(plan, data, view_fn, seed=epoch_seed(plan.seed, epoch))[0]

    from keras_semppl.callbacks.checkpoint import CheckpointError
    from keras_semppl.callbacks.guards import DivergenceError

    try:
        with engine.scope():
            model, history, seconds = fit_semppl(plan, data, dataset, views, steps_per_epoch,
                                                 epoch_dataset=epoch_dataset)
    except DivergenceError as error:
        kept = f" {plan.output} was left as it was." if os.path.exists(plan.output) else ""
        raise SystemExit(f"semppl train: {error} Nothing was saved.{kept}") from None
    except CheckpointError as error:
        raise SystemExit(f"semppl train: --checkpoint-dir: {error}") from None
    if plan.plots and history:
        write_plots(plan, history)

    results = {
        "backend": keras.backend.backend(),
        "seed": plan.seed,
        "precision": precision,
        "labelled": int(data.labelled_mask.sum()),
        "validation": int(len(data.val_labels)),
        "knn_k": knn_neighbours(data.labels),
        "semppl_seconds": round(seconds, 1),
    }
    if plan.semantic_positives and history.get("pseudo_label_accuracy"):
        results["final_pseudo_label_accuracy"] = float(
            history["pseudo_label_accuracy"][-1])
    if not plan.is_digits:
        results = {"dataset": plan.dataset, **results}
    supervised = None
    if plan.baseline:
        # The baseline always augments on the host, with the same views.
        supervised, seconds = train_baseline(plan, data, make_view_fn(views, seed=plan.seed),
                                             size, steps_per_epoch * plan.epochs)
        results["baseline_seconds"] = round(seconds, 1)
    results["accuracy"] = held_out_comparison(
        data, size, semppl=model, supervised=supervised, classical=plan.classical,
        seed=plan.seed)

    save_model(model, plan.output)
    results["saved"] = plan.output
    results["total_seconds"] = round(time.time() - start, 1)
    print_report(plan, results)
    return results


def run(args):
    execute(resolve_plan(args))
    return 0

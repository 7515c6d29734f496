"""Train SemPPL (default: the embedded digits set) and compare with a supervised baseline.

With no arguments: scikit-learn's bundled 8x8 digits, resized, 10% of the
training labels kept; trains SemPPL, then the same encoder supervised on the
labelled images only, and reports k-NN accuracy of both on a held-out split.

`--dataset` picks other data: "folder:PATH" (PATH/<class>/<image>, plus an
optional `--unlabelled-dir`) or a TFDS name ("cifar10", "cifar100", "stl10",
"imagenette/160px-v2", prepared in `--data-dir`; never downloads). The
held-out set is the data set's test/validation split where it has one
(`EVAL_SPLITS`), else a stratified `--val-fraction` of the labelled pool.
"""

import json
import os
import time


#: TFDS data sets whose own split serves as the held-out k-NN set.
EVAL_SPLITS = {"cifar10": "test", "cifar100": "test", "stl10": "test",
               "imagenette": "validation"}
ENCODERS = ("small_convnet", "resnet18", "resnet50")
VIEW_PRESETS = ("digits", "cifar", "imagenet")
AUGMENT_PLACEMENTS = ("host", "device")


DISTRIBUTE_NAMES = ("auto", "none", "data_parallel", "mirrored", "multi_worker", "tpu")


def add_arguments(parser):
    parser.add_argument("--dataset", default="digits",
                        help='"digits" (default), "folder:PATH" or a TFDS name such as cifar10.')
    parser.add_argument("--data-dir", default=None, help="TFDS data directory.")
    parser.add_argument("--unlabelled-dir", default=None,
                        help="extra folder of unlabelled images (with --dataset folder:PATH).")
    parser.add_argument("--val-fraction", type=float, default=None,
                        help="held-out share of the labelled pool when the data set has no "
                             "test split (default 0.1; digits 0.2).")
    parser.add_argument("--epochs", type=int, default=30, help="SemPPL epochs (default 30).")
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
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--queue-size", type=int, default=512)
    parser.add_argument("--knn-k", type=int, default=1, help="k of the pseudo-label vote.")
    parser.add_argument("--num-large-views", type=int, default=None,
                        help="L (default 2 for digits, else the preset's 4).")
    parser.add_argument("--num-small-views", type=int, default=None,
                        help="S (default 0 for digits, else the preset's 2).")
    parser.add_argument("--projection-dim", type=int, default=64)
    parser.add_argument("--hidden-dim", type=int, default=256)
    parser.add_argument("--lambda-invariance", type=float, default=1.0)
    parser.add_argument("--online-probe", action="store_true",
                        help="train BYOL's online linear probe on stop-gradient features "
                             "(metrics probe_loss, probe_accuracy; a monitor only).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=None,
                        help="where the trained model is saved (.keras; default "
                             "runs/semppl_digits.keras for digits, else runs/semppl.keras).")
    parser.add_argument("--no-baseline", action="store_true", help="skip the supervised baseline.")
    parser.add_argument("--distribute", default="none", choices=DISTRIBUTE_NAMES,
                        help="engine; auto picks one from the visible devices (default none).")
    parser.add_argument("--tpu", default=None, help="TPU name or address for --distribute tpu.")
    parser.add_argument("--plots", default=None, metavar="DIR",
                        help="write history.json and training_curves.png into DIR.")
    parser.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2))


def digits_view_configs(num_large, size):
    """BYOL views adapted to digits: the "digits" preset of
    `keras_semppl.augment.presets` (its values live there)."""
    from keras_semppl.augment.presets import view_preset

    return view_preset("digits", num_large=num_large, num_small=0, large_size=size)


def _fail(flag, message):
    raise SystemExit(f"{flag} {message}")


def _check(args):
    """Fills dataset-dependent defaults; SystemExit naming the bad flag."""
    digits = args.dataset == "digits"
    if not isinstance(args.dataset, str) or not args.dataset.strip():
        _fail("--dataset", "must not be empty.")
    if args.dataset.startswith("folder:") and not args.dataset[len("folder:"):]:
        _fail("--dataset", "folder:PATH needs a path.")
    if args.unlabelled_dir is not None and not args.dataset.startswith("folder:"):
        _fail("--unlabelled-dir", f"needs --dataset folder:PATH; got --dataset {args.dataset!r}.")
    if args.output is None:
        args.output = "runs/semppl_digits.keras" if digits else "runs/semppl.keras"
    if not args.output.endswith(".keras"):
        _fail("--output", f"must end with .keras; got {args.output!r}.")
    for name in ("epochs", "batch_size", "queue_size", "image_size", "steps_per_epoch",
                 "labels_per_class", "num_large_views"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            _fail(f"--{name.replace('_', '-')}", f"must be positive; got {value}.")
    if args.num_small_views is not None and args.num_small_views < 0:
        _fail("--num-small-views", f"must be >= 0; got {args.num_small_views}.")
    if args.label_fraction is not None and not 0 < args.label_fraction <= 1:
        _fail("--label-fraction", f"must be in (0, 1]; got {args.label_fraction}.")
    if args.label_fraction is None and args.labels_per_class is None:
        args.label_fraction = 0.1
    if args.val_fraction is None:
        args.val_fraction = 0.2 if digits else 0.1
    if not 0 <= args.val_fraction < 1:
        _fail("--val-fraction", f"must be in [0, 1); got {args.val_fraction}.")
    if not 0 <= args.labelled_per_batch < args.batch_size:
        _fail("--labelled-per-batch",
              f"must be in [0, --batch-size={args.batch_size}); got {args.labelled_per_batch}.")
    if args.views_preset is None:
        args.views_preset = "digits" if digits else "cifar"
    if args.image_size is None and digits:
        args.image_size = 16
    if args.views_preset == "digits":
        if args.num_large_views is None:
            args.num_large_views = 2
        if args.num_small_views:
            _fail("--num-small-views", "must be 0 with --views-preset digits.")
        args.num_small_views = 0


def _load_data(args):
    """The `SemiSupervisedArrays` named by --dataset (SystemExit on errors)."""
    from keras_semppl.data.digits import load_digits
    from keras_semppl.data.image_folder import load_image_folder
    from keras_semppl.data.sources import resolve_dataset
    from keras_semppl.data.tfds_source import load_tfds

    spec = args.dataset.strip()
    budget = dict(label_fraction=args.label_fraction, labels_per_class=args.labels_per_class,
                  seed=args.seed)
    try:
        if spec == "digits":
            if args.labels_per_class is not None:
                budget["label_fraction"] = None
            return load_digits(image_size=args.image_size, val_fraction=args.val_fraction,
                               **budget)
        if spec.startswith("folder:"):
            return load_image_folder(spec[len("folder:"):], unlabelled_dir=args.unlabelled_dir,
                                     image_size=args.image_size,
                                     val_fraction=args.val_fraction, **budget)
        name = spec[len("tfds:"):] if spec.startswith("tfds:") else spec
        eval_split = EVAL_SPLITS.get(name.split("/")[0].split(":")[0])
        if eval_split is None:
            return resolve_dataset(spec, data_dir=args.data_dir, image_size=args.image_size,
                                   val_fraction=args.val_fraction, **budget)
        return load_tfds(name, args.data_dir, image_size=args.image_size,
                         val_split=eval_split, **budget)
    except ValueError as error:
        hint = " Pass --image-size." if "image_size" in str(error) else ""
        raise SystemExit(f"--dataset {spec!r}: {error}{hint}") from None


def _views(args, image_side):
    """(ViewSet, large view side) for --views-preset and the view counts."""
    from keras_semppl.augment.presets import view_preset

    if args.views_preset == "digits":
        side = args.image_size or image_side
        return digits_view_configs(args.num_large_views, side), side
    views = view_preset(args.views_preset, args.num_large_views, args.num_small_views)
    args.num_large_views, args.num_small_views = len(views.large), len(views.small)
    return views, views.large[0].size


def _encoder(args, size, channels, name=None):
    from keras_semppl.encoders.resnet import resnet18
    from keras_semppl.encoders.resnet import resnet50
    from keras_semppl.encoders.small_convnet import small_convnet

    side = None if args.num_small_views else size
    shape = (side, side, channels)
    kwargs = {} if name is None else {"name": name}
    if args.encoder == "small_convnet":
        return small_convnet(shape, widths=(32, 64, 128), **kwargs)
    stem = "cifar" if size <= 64 else "imagenet"
    build = resnet18 if args.encoder == "resnet18" else resnet50
    return build(input_shape=shape, stem=stem, **kwargs)


def _fit_semppl(args, data, dataset, size, channels, total_steps, steps_per_epoch, views=None):
    """Builds, compiles and fits SemPPL; call inside the distribution scope."""
    import keras

    from keras_semppl.augment.device_views import DeviceViews
    from keras_semppl.models import SemPPL

    device_views = None
    if args.augment_on == "device":
        device_views = DeviceViews(views.large, views.small, channels=channels, seed=args.seed)
    from keras_semppl.schedules.warmup_cosine import WarmupCosineDecay

    model = SemPPL(
        _encoder(args, size, channels),
        num_classes=data.num_classes,
        num_large_views=args.num_large_views,
        num_small_views=args.num_small_views,
        projector_hidden_dim=args.hidden_dim,
        projection_dim=args.projection_dim,
        predictor_hidden_dim=args.hidden_dim,
        queue_size=args.queue_size,
        knn_k=args.knn_k,
        lambda_invariance=args.lambda_invariance,
        target_decay_steps=total_steps,
        online_probe=args.online_probe,
        view_augmentation=device_views,
        seed=args.seed,
    )
    schedule = WarmupCosineDecay(args.learning_rate, total_steps, warmup_steps=min(2 * steps_per_epoch, total_steps))
    model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=1e-4))
    start = time.time()
    history = model.fit(dataset, epochs=args.epochs, verbose=args.verbose,
                        steps_per_epoch=args.steps_per_epoch)
    return model, history, time.time() - start


def run(args):
    _check(args)
    import keras
    import numpy as np
    import tensorflow as tf

    from keras_semppl.augment.host_views import make_view_fn
    from keras_semppl.data.pipeline import make_training_dataset
    from keras_semppl.evaluation.embed import embed_images
    from keras_semppl.evaluation.knn_classifier import knn_classify
    from keras_semppl.evaluation.supervised_baseline import train_supervised_baseline

    keras.utils.set_random_seed(args.seed)
    data = _load_data(args)
    if len(data.val_labels) == 0:
        raise SystemExit("--val-fraction: the held-out set is empty; raise it.")
    print(f"backend: {keras.backend.backend()}")
    print(data.summary())

    channels = data.images.shape[-1]
    views, size = _views(args, data.images.shape[1])
    if args.augment_on == "device" and data.images.shape[1] != size:
        raise SystemExit(f"--augment-on device: the images ({data.images.shape[1]} px) must "
                         f"have the large view side ({size} px); pass --image-size {size}.")
    view_fn = make_view_fn(views, seed=args.seed, placement=args.augment_on)
    host_view_fn = make_view_fn(views, seed=args.seed)  # the baseline's augmentation
    per_batch = args.labelled_per_batch or None
    repeat = args.steps_per_epoch is not None
    try:
        dataset = make_training_dataset(
            data.images, data.labels, args.batch_size, view_fn, true_labels=data.true_labels,
            seed=args.seed, labelled_per_batch=per_batch, num_classes=data.num_classes,
            repeat=repeat)
    except ValueError as error:
        raise SystemExit(f"--batch-size/--labelled-per-batch: {error}") from None
    steps_per_epoch = args.steps_per_epoch if repeat else int(dataset.cardinality())
    total_steps = steps_per_epoch * args.epochs

    from keras_semppl.distribute import resolve_distribution

    try:
        plan = resolve_distribution(args.distribute, tpu=args.tpu)
        plan.check_batch_size(args.batch_size)
    except (ValueError, NotImplementedError) as error:
        raise SystemExit(f"--distribute: {error}") from None
    print(f"distribution: {plan.description}")
    with plan.scope():
        model, history, semppl_seconds = _fit_semppl(
            args, data, dataset, size, channels, total_steps, steps_per_epoch, views)
    if args.plots:
        from keras_semppl.callbacks.history_io import save_history_json
        from keras_semppl.plots.training_curves import plot_training_curves

        os.makedirs(args.plots, exist_ok=True)
        save_history_json(history, os.path.join(args.plots, "history.json"))
        plot_training_curves(history.history, os.path.join(args.plots, "training_curves.png"))
        print(f"wrote {args.plots}/history.json and training_curves.png")

    def at_view_size(images):
        if images.shape[1:3] == (size, size):
            return images
        return np.clip(tf.image.resize(images, (size, size), antialias=True).numpy(), 0.0, 1.0)

    reference = at_view_size(data.images[data.labelled_mask])
    reference_labels = data.labels[data.labelled_mask]
    val_images = at_view_size(data.val_images)

    def knn_accuracy(encoder):
        predictions = knn_classify(embed_images(encoder, reference), reference_labels,
                                   embed_images(encoder, val_images), data.num_classes)
        return float((predictions == data.val_labels).mean())

    results = {
        "backend": keras.backend.backend(),
        "labelled": int(data.labelled_mask.sum()),
        "validation": int(len(data.val_labels)),
        "semppl_knn_accuracy": knn_accuracy(model.extract_encoder()),
        "semppl_seconds": round(semppl_seconds, 1),
        "final_pseudo_label_accuracy": float(history.history["pseudo_label_accuracy"][-1]),
    }
    if args.dataset != "digits":
        results = {"dataset": args.dataset, **results}
    if not args.no_baseline:
        start = time.time()
        baseline = train_supervised_baseline(
            _encoder(args, size, channels, name=f"baseline_{args.encoder.split('_')[-1]}"),
            data.images, data.labels, data.num_classes, host_view_fn, steps=total_steps,
            learning_rate=args.learning_rate, seed=args.seed)
        results["baseline_knn_accuracy"] = knn_accuracy(baseline.layers[1])
        results["baseline_seconds"] = round(time.time() - start, 1)

    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    model.save(args.output)
    results["saved"] = args.output
    what = "digits" if args.dataset == "digits" else "images"
    print()
    print(f"k-NN accuracy on {results['validation']} held-out {what} "
          f"({results['labelled']} labels used):")
    print(f"  SemPPL:              {results['semppl_knn_accuracy']:.3f}")
    if "baseline_knn_accuracy" in results:
        print(f"  supervised baseline: {results['baseline_knn_accuracy']:.3f}")
    print(f"  final pseudo-label accuracy (unlabelled, training): "
          f"{results['final_pseudo_label_accuracy']:.3f}")
    print(f"saved {args.output}")
    print(json.dumps(results))
    return 0

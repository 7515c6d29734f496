"""Train SemPPL (default: the embedded digits set) and compare with a supervised baseline.

With no arguments: scikit-learn's bundled 8x8 digits, resized, 10% of the
training labels kept; trains SemPPL, then the same encoder supervised on the
labelled images only, and reports k-NN accuracy of both on a held-out split.
"""

import json
import os
import time

from keras_semppl.augment.byol_views import ViewConfig
from keras_semppl.augment.byol_views import ViewSet


def add_arguments(parser):
    parser.add_argument("--epochs", type=int, default=30, help="SemPPL epochs (default 30).")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--labelled-per-batch", type=int, default=32,
                        help="labelled examples in every batch (oversampled); 0 = uniform batches.")
    parser.add_argument("--image-size", type=int, default=16)
    parser.add_argument("--label-fraction", type=float, default=0.1)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--queue-size", type=int, default=512)
    parser.add_argument("--knn-k", type=int, default=1, help="k of the pseudo-label vote.")
    parser.add_argument("--num-large-views", type=int, default=2)
    parser.add_argument("--projection-dim", type=int, default=64)
    parser.add_argument("--hidden-dim", type=int, default=256)
    parser.add_argument("--lambda-invariance", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="runs/semppl_digits.keras",
                        help="where the trained model is saved (.keras).")
    parser.add_argument("--no-baseline", action="store_true", help="skip the supervised baseline.")
    parser.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2))


def digits_view_configs(num_large, size):
    """BYOL views adapted to digits: no flips (a mirrored 2 is no 2), milder crops."""
    configs = []
    for i in range(num_large):
        two = i % 2 == 1
        configs.append(ViewConfig(size=size, area_range=(0.4, 1.0), flip_prob=0.0,
                                  blur_prob=0.1 if two else 0.5,
                                  solarize_prob=0.2 if two else 0.0))
    return ViewSet(large=tuple(configs), small=())


def _check(args):
    if not args.output.endswith(".keras"):
        raise SystemExit(f"--output must end with .keras; got {args.output!r}.")
    for name in ("epochs", "batch_size", "image_size", "queue_size"):
        if getattr(args, name) <= 0:
            raise SystemExit(f"--{name.replace('_', '-')} must be positive; got {getattr(args, name)}.")
    if not 0 < args.label_fraction <= 1:
        raise SystemExit(f"--label-fraction must be in (0, 1]; got {args.label_fraction}.")


def run(args):
    _check(args)
    import keras

    from keras_semppl.augment.byol_views import make_view_fn
    from keras_semppl.data.digits import load_digits
    from keras_semppl.data.pipeline import make_training_dataset
    from keras_semppl.encoders.small_convnet import small_convnet
    from keras_semppl.evaluation.embed import embed_images
    from keras_semppl.evaluation.knn_classifier import knn_classify
    from keras_semppl.evaluation.supervised_baseline import train_supervised_baseline
    from keras_semppl.models import SemPPL
    from keras_semppl.schedules.warmup_cosine import WarmupCosineDecay

    keras.utils.set_random_seed(args.seed)
    data = load_digits(image_size=args.image_size, label_fraction=args.label_fraction, seed=args.seed)
    print(f"backend: {keras.backend.backend()}")
    print(data.summary())

    view_fn = make_view_fn(digits_view_configs(args.num_large_views, args.image_size), seed=args.seed)
    per_batch = args.labelled_per_batch or None
    dataset = make_training_dataset(
        data.images, data.labels, args.batch_size, view_fn, true_labels=data.true_labels,
        seed=args.seed, labelled_per_batch=per_batch, num_classes=data.num_classes)
    steps_per_epoch = int(dataset.cardinality())
    total_steps = steps_per_epoch * args.epochs

    shape = (args.image_size, args.image_size, data.images.shape[-1])
    model = SemPPL(
        small_convnet(shape, widths=(32, 64, 128)),
        num_classes=data.num_classes,
        num_large_views=args.num_large_views,
        projector_hidden_dim=args.hidden_dim,
        projection_dim=args.projection_dim,
        predictor_hidden_dim=args.hidden_dim,
        queue_size=args.queue_size,
        knn_k=args.knn_k,
        lambda_invariance=args.lambda_invariance,
        target_decay_steps=total_steps,
        seed=args.seed,
    )
    schedule = WarmupCosineDecay(args.learning_rate, total_steps, warmup_steps=min(2 * steps_per_epoch, total_steps))
    model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=1e-4))
    start = time.time()
    history = model.fit(dataset, epochs=args.epochs, verbose=args.verbose)
    semppl_seconds = time.time() - start

    reference = data.images[data.labelled_mask]
    reference_labels = data.labels[data.labelled_mask]

    def knn_accuracy(encoder):
        predictions = knn_classify(embed_images(encoder, reference), reference_labels,
                                   embed_images(encoder, data.val_images), data.num_classes)
        return float((predictions == data.val_labels).mean())

    results = {
        "backend": keras.backend.backend(),
        "labelled": int(data.labelled_mask.sum()),
        "validation": int(len(data.val_labels)),
        "semppl_knn_accuracy": knn_accuracy(model.extract_encoder()),
        "semppl_seconds": round(semppl_seconds, 1),
        "final_pseudo_label_accuracy": float(history.history["pseudo_label_accuracy"][-1]),
    }
    if not args.no_baseline:
        start = time.time()
        baseline = train_supervised_baseline(
            small_convnet(shape, widths=(32, 64, 128), name="baseline_convnet"),
            data.images, data.labels, data.num_classes, view_fn, steps=total_steps,
            learning_rate=args.learning_rate, seed=args.seed)
        results["baseline_knn_accuracy"] = knn_accuracy(baseline.layers[1])
        results["baseline_seconds"] = round(time.time() - start, 1)

    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    model.save(args.output)
    results["saved"] = args.output
    print()
    print(f"k-NN accuracy on {results['validation']} held-out digits "
          f"({results['labelled']} labels used):")
    print(f"  SemPPL:              {results['semppl_knn_accuracy']:.3f}")
    if "baseline_knn_accuracy" in results:
        print(f"  supervised baseline: {results['baseline_knn_accuracy']:.3f}")
    print(f"  final pseudo-label accuracy (unlabelled, training): "
          f"{results['final_pseudo_label_accuracy']:.3f}")
    print(f"saved {args.output}")
    print(json.dumps(results))
    return 0

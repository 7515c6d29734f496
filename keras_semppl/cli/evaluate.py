"""Evaluate a trained encoder: k-NN, linear probe and fine-tuning.

Usage: semppl evaluate MODEL.keras --dataset digits|folder:PATH|NAME
                       [--protocol knn,linear,finetune] [--json OUT.json]

MODEL.keras is a saved SemPPL model (its online encoder is evaluated) or a
plain encoder (images -> features). The labelled training images are the k-NN
references and the probe / fine-tuning data; the test set is the data set's
own test/validation split where it has one, else a held-out --val-fraction.
"""

import json


def add_arguments(parser):
    parser.add_argument("model", help="a saved SemPPL model or encoder (.keras).")
    parser.add_argument("--dataset", default="digits",
                        help='"digits", "folder:PATH", "tfds:NAME" or a TFDS name (default digits).')
    parser.add_argument("--data-dir", default=None, help="TFDS data directory.")
    parser.add_argument("--protocol", default="knn,linear,finetune",
                        help="comma-separated protocols (default knn,linear,finetune).")
    parser.add_argument("--label-fraction", type=float, default=None,
                        help="share of training labels kept (default: the source's).")
    parser.add_argument("--labels-per-class", type=int, default=None,
                        help="training labels kept per class (default: the source's).")
    parser.add_argument("--val-fraction", type=float, default=0.2,
                        help="share of the labelled data held out as the test set when "
                             "the data set has no test split (default 0.2).")
    parser.add_argument("--seed", type=int, default=0, help="seeds the splits.")
    parser.add_argument("--knn-k", type=int, default=20,
                        help="upper bound of the k-NN vote's k: k is this, clipped to the "
                             "labels of the rarest class, the rule `semppl train` reports "
                             "with (default 20).")
    parser.add_argument("--knn-temperature", type=float, default=0.07,
                        help="temperature of the k-NN vote's weights exp(cos / T) "
                             "(default 0.07).")
    parser.add_argument("--linear-epochs", type=int, default=100,
                        help="epochs of the linear probe (default 100).")
    parser.add_argument("--finetune-epochs", type=int, default=30,
                        help="epochs of fine-tuning (default 30).")
    parser.add_argument("--finetune-head", choices=("random", "linear_probe"), default="random",
                        help="fine-tuning starts from a random head or from the linear probe "
                             "(LP-FT: with a few hundred labels it kept what a self-supervised "
                             "encoder's probe had, where a random head lost it).")
    parser.add_argument("--no-confusion", action="store_true",
                        help="leave the confusion matrices out of the printed report.")
    parser.add_argument("--json", default=None, help="also write the report as JSON here.")


def run(args):
    from keras_semppl.data.sources import resolve_dataset
    from keras_semppl.io.atomic import write_text
    from keras_semppl.evaluation.embed import encoder_image_size
    from keras_semppl.evaluation.embed import load_encoder
    from keras_semppl.evaluation.knn_rule import describe_knn_k
    from keras_semppl.evaluation.knn_rule import held_out_knn_k
    from keras_semppl.evaluation.protocols import evaluate_arrays
    from keras_semppl.evaluation.protocols import parse_protocols

    from keras_semppl.io.atomic import check_keras_file

    protocols = parse_protocols(args.protocol)
    try:
        check_keras_file(args.model, "MODEL")
        encoder = load_encoder(args.model)
    except ValueError as error:
        raise SystemExit(f"semppl evaluate: {error}") from None
    if args.knn_k < 1:
        raise SystemExit(f"semppl evaluate: --knn-k must be >= 1; got {args.knn_k}.")
    try:
        data = resolve_dataset(args.dataset, data_dir=args.data_dir,
                               image_size=encoder_image_size(encoder),
                               label_fraction=args.label_fraction,
                               labels_per_class=args.labels_per_class, seed=args.seed,
                               val_fraction=args.val_fraction)
    except (ValueError, FileNotFoundError) as error:
        raise SystemExit(f"semppl evaluate: --dataset {args.dataset!r}: {error}") from None
    if "knn" in protocols:
        print(describe_knn_k(data.labels, args.knn_k))
    report = evaluate_arrays(
        encoder, data, protocols=protocols, dataset=args.dataset,
        knn_kwargs={"k": held_out_knn_k(data.labels, args.knn_k),
                    "temperature": args.knn_temperature},
        linear_kwargs={"epochs": args.linear_epochs},
        finetune_kwargs={"epochs": args.finetune_epochs, "head_init": args.finetune_head},
    )
    print(report.to_text(confusion=not args.no_confusion))
    if args.json:
        write_text(args.json, json.dumps(report.to_dict(), indent=1))
        print(f"saved {args.json}")
    return 0

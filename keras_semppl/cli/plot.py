"""Plot training curves from a saved history, and optionally a t-SNE map.

Usage: semppl plot [HISTORY.json|LOG.csv] [--out DIR]
                   [--model MODEL.keras --dataset digits|folder:PATH|NAME]
                   [--views [--views-preset digits|cifar|imagenet] [--image-index N]]

Writes DIR/training_curves.png; with --model also DIR/tsne.png (the encoder's
embeddings of the data set's validation images, coloured by class); with
--views DIR/views.png, a grid of one training image's views as the model sees
them (host placement, the preset's recipe).

With --model and no HISTORY, the history next to the model is used
(``runs/NAME.keras`` -> ``runs/NAME.history.json``, where `semppl train`
writes it), and DIR defaults to ``runs/NAME_plots``: `semppl plot --model
runs/semppl_digits.keras` alone draws both pictures.
"""

import os


def add_arguments(parser):
    parser.add_argument("history", nargs="?", default=None,
                        help="a History saved as JSON (save_history_json) or a CSVLogger "
                        "file (default with --model: MODEL's NAME.history.json beside it; "
                        "optional with --views).")
    parser.add_argument("--out", default=None,
                        help="output folder (default with --model: NAME_plots beside it; "
                        "required otherwise).")
    parser.add_argument("--model", default=None, help="a saved SemPPL model or encoder "
                        "(.keras) for the t-SNE map.")
    parser.add_argument("--dataset", default="digits", help="data for the t-SNE map.")
    parser.add_argument("--data-dir", default=None, help="TFDS data directory.")
    parser.add_argument("--max-points", type=int, default=2000,
                        help="at most this many validation images in the t-SNE map "
                        "(default 2000).")
    parser.add_argument("--views", action="store_true",
                        help="write DIR/views.png: one image's training views.")
    parser.add_argument("--views-preset", default=None, choices=("digits", "cifar", "imagenet"),
                        help="view recipe for --views (default: digits for the digits data "
                        "set, else cifar).")
    parser.add_argument("--image-index", type=int, default=0,
                        help="which training image --views shows.")


def run(args):
    from keras_semppl.callbacks.history_io import load_history
    from keras_semppl.plots.training_curves import plot_training_curves

    from keras_semppl.io.atomic import check_keras_file

    if args.model:
        try:
            check_keras_file(args.model, "--model")
        except ValueError as error:
            raise SystemExit(f"semppl plot: {error}") from None
    _default_history_and_out(args)
    if args.history is None and not args.views and not args.model:
        raise SystemExit("semppl plot: give a HISTORY file, --model, --views, or several.")
    history = None
    if args.history is not None:
        if not os.path.isfile(args.history):
            raise SystemExit(f"semppl plot: HISTORY {args.history!r} does not exist.")
        try:
            history = load_history(args.history)
        except (ValueError, KeyError, UnicodeDecodeError) as error:
            raise SystemExit(f"semppl plot: HISTORY {args.history!r} is not a JSON history "
                             f"or a CSVLogger file ({error}).") from None
        if not any(history.values()):
            raise SystemExit(f"semppl plot: HISTORY {args.history!r} holds no epochs (a "
                             "header without rows, or empty lists): nothing to plot.")
    os.makedirs(args.out, exist_ok=True)
    if args.views:
        print(f"saved {_plot_views(args)}")
    if history is not None:
        curves = plot_training_curves(history,
                                      os.path.join(args.out, "training_curves.png"))
        print(f"saved {curves}")
    if args.model:
        from keras_semppl.data.sources import resolve_dataset
        from keras_semppl.evaluation.embed import embed_images
        from keras_semppl.evaluation.embed import encoder_image_size
        from keras_semppl.evaluation.embed import load_encoder
        from keras_semppl.plots.embedding_map import plot_embedding_map

        encoder = load_encoder(args.model)
        data = resolve_dataset(args.dataset, data_dir=args.data_dir,
                               image_size=encoder_image_size(encoder))
        names = list(getattr(data, "class_names", ()) or ()) or None
        tsne = plot_embedding_map(embed_images(encoder, data.val_images), data.val_labels,
                                  os.path.join(args.out, "tsne.png"), class_names=names,
                                  max_points=args.max_points)
        print(f"saved {tsne}")
    return 0


def _default_history_and_out(args):
    """Fills in HISTORY and --out from --model where they are not given."""
    from keras_semppl.callbacks.history_io import history_path_for_model

    if args.model and args.history is None:
        beside = history_path_for_model(args.model)
        if os.path.isfile(beside):
            args.history = beside
        else:
            print(f"no history beside the model ({beside}): drawing the t-SNE map only.")
    if args.out is None:
        if not args.model:
            raise SystemExit("semppl plot: --out DIR is required without --model.")
        stem = args.model[:-len(".keras")] if args.model.endswith(".keras") else args.model
        args.out = stem + "_plots"


def _plot_views(args):
    """DIR/views.png for --views: the preset's views of one training image."""
    from keras_semppl.augment import make_view_fn
    from keras_semppl.augment import view_preset
    from keras_semppl.data.sources import resolve_dataset
    from keras_semppl.plots.views_grid import plot_views

    preset = args.views_preset or ("digits" if args.dataset == "digits" else "cifar")
    size = 16 if args.dataset == "digits" else None
    data = resolve_dataset(args.dataset, data_dir=args.data_dir, image_size=size)
    if not 0 <= args.image_index < len(data.images):
        raise SystemExit(f"--image-index must be in [0, {len(data.images)}); "
                         f"got {args.image_index}.")
    large_size = data.images.shape[1] if preset == "digits" else None
    view_fn = make_view_fn(view_preset(preset, large_size=large_size, num_small=None
                                       if preset != "digits" else 0), seed=0)
    return plot_views(data.images[args.image_index], view_fn,
                      os.path.join(args.out, "views.png"),
                      title=f"{preset} views of {args.dataset} image {args.image_index}")

"""Plot training curves from a saved history, and optionally a t-SNE map.

Usage: semppl plot HISTORY.json|LOG.csv --out DIR
                   [--model MODEL.keras --dataset digits|folder:PATH|NAME]

Writes DIR/training_curves.png; with --model also DIR/tsne.png (the encoder's
embeddings of the data set's validation images, coloured by class).
"""

import os


def add_arguments(parser):
    parser.add_argument("history", help="a History saved as JSON (save_history_json) "
                        "or a CSVLogger file.")
    parser.add_argument("--out", required=True, help="output folder.")
    parser.add_argument("--model", default=None, help="a saved SemPPL model or encoder "
                        "(.keras) for the t-SNE map.")
    parser.add_argument("--dataset", default="digits", help="data for the t-SNE map.")
    parser.add_argument("--data-dir", default=None, help="TFDS data directory.")
    parser.add_argument("--max-points", type=int, default=2000)


def run(args):
    from keras_semppl.callbacks.history_io import load_history
    from keras_semppl.plots.training_curves import plot_training_curves

    os.makedirs(args.out, exist_ok=True)
    curves = plot_training_curves(load_history(args.history),
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

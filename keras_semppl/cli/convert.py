"""Convert a released SemPPL checkpoint (.pkl) into a Keras encoder (.keras).

Usage: semppl convert CHECKPOINT.pkl --output ENCODER.keras
                      [--image-size 224|any] [--heads] [--no-normalization]

Reads the authors' pickle with NumPy alone (no JAX, Haiku or dill), infers
the ResNet (depth, width) from its parameter shapes, checks it against the
file name, and saves the encoder: images (B, H, W, 3) in [0, 1] -> features
(B, 2048 * width), ImageNet normalisation included. `semppl evaluate
ENCODER.keras --dataset ...` then evaluates it on any image folder or TFDS
set (resized to --image-size). --heads also saves the online projector and
predictor beside it (ENCODER_projector.keras, ENCODER_predictor.keras).
"""

import math
import os


def _image_size(text):
    if text.lower() in ("any", "none"):
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        import argparse  # noqa: PLC0415
        raise argparse.ArgumentTypeError(f"expected a positive int or 'any', got {text!r}")
    return value


def add_arguments(parser):
    parser.add_argument("checkpoint", help="a released SemPPL checkpoint, e.g. "
                        "resnet_50_1x_1_pct.pkl.")
    parser.add_argument("--output", required=True, help="the encoder file to write (.keras).")
    parser.add_argument("--image-size", type=_image_size, default=224,
                        help="fix the encoder's input to N x N pixels, the size `semppl "
                        "evaluate` resizes images to (default 224, the release's); 'any' "
                        "leaves it free.")
    parser.add_argument("--heads", action="store_true",
                        help="also save the online projector and predictor MLPs.")
    parser.add_argument("--no-normalization", action="store_true",
                        help="leave out the first layer's ImageNet mean/std standardisation "
                        "(the encoder then expects standardised images).")
    parser.add_argument("--no-name-check", action="store_true",
                        help="accept a file whose name names another architecture.")


def run(args):
    from keras_semppl.io.atomic import check_writable_folder
    from keras_semppl.io.atomic import save_model
    from keras_semppl.pretrained import read_checkpoint

    try:
        if not args.output.endswith(".keras"):
            raise ValueError(f"--output must end with .keras; got {args.output!r}.")
        check_writable_folder(args.output)
        checkpoint = read_checkpoint(args.checkpoint, check_name=not args.no_name_check)
    except ValueError as error:
        raise SystemExit(f"semppl convert: {error}") from None
    arch = checkpoint.architecture
    encoder = checkpoint.encoder(image_size=args.image_size,
                                 normalize=not args.no_normalization)
    count = sum(math.prod(v.shape) for v in encoder.trainable_weights)
    step = "" if checkpoint.step is None else f", step {checkpoint.step}"
    print(f"{os.path.basename(args.checkpoint)}: {arch.label} (blocks "
          f"{'-'.join(map(str, arch.blocks_per_group))}, {arch.feature_dim} features, "
          f"{count / 1e6:.1f}M encoder parameters{step})")
    save_model(encoder, args.output)
    print(f"saved {args.output}")
    if args.heads:
        stem = args.output[: -len(".keras")]
        if not checkpoint.heads:
            print("the checkpoint holds no projector / predictor heads")
        for name in sorted(checkpoint.heads):
            path = f"{stem}_{name.replace('/', '_')}.keras"
            head = checkpoint.heads[name]
            save_model(checkpoint.head(name), path)
            print(f"saved {path} ({name}: {head.input_dim} -> "
                  f"{head.hidden_w.shape[1]} -> {head.output_dim})")
    return 0


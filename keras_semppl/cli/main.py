"""`semppl` command line entry point."""

import argparse
import sys


def build_parser():
    parser = argparse.ArgumentParser(
        prog="semppl",
        description="SemPPL semi-supervised representation learning (Keras 3). "
        "The backend comes from KERAS_BACKEND (jax, tensorflow or torch).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    from keras_semppl.cli import train

    train.add_arguments(commands.add_parser("train", help=train.__doc__.splitlines()[0]))
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.command == "train":
        from keras_semppl.cli import train

        return train.run(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())

"""`semppl` command line entry point."""

import argparse
import importlib
import sys

# Subcommand -> module in keras_semppl.cli with add_arguments(parser) and run(args).
COMMANDS = ("train", "evaluate", "plot", "convert")


def _module(name):
    return importlib.import_module(f"keras_semppl.cli.{name}")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="semppl",
        description="SemPPL semi-supervised representation learning (Keras 3). "
        "The backend comes from KERAS_BACKEND (jax, tensorflow or torch).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        module = _module(name)
        module.add_arguments(commands.add_parser(name, help=module.__doc__.strip().splitlines()[0]))
    return parser


def run_command(args):
    """Runs the parsed subcommand; returns its exit status."""
    return _module(args.command).run(args)


def main(argv=None):
    """`semppl ARGS`; the installed command enters through `keras_semppl_cli`."""
    return run_command(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

"""Entry point of the `semppl` command.

A module outside the `keras_semppl` package, so that the command parses its
arguments (and answers `--help`) before Keras and TensorFlow are imported;
it also quiets TensorFlow's C++ start-up log before TensorFlow loads.
"""

import os
import sys

#: Read by `keras_semppl/__init__.py`: while True, importing the package does
#: not load its API (and Keras) yet.
PARSING = False


def main(argv=None):
    global PARSING
    # TensorFlow's C++ banner and per-op log lines are not ours to fix; the
    # user's own setting wins.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    PARSING = True
    try:
        from keras_semppl.cli import main as cli

        args = cli.build_parser().parse_args(argv)
    finally:
        PARSING = False
    import keras_semppl

    keras_semppl._load_api()  # registers every class, for load_model
    return cli.run_command(args)


if __name__ == "__main__":
    sys.exit(main())

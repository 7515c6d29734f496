"""Entry point of the `semppl` command.

A module outside the `keras_semppl` package, so that the command parses its
arguments (and answers `--help`) before Keras and TensorFlow are imported.
It also keeps TensorFlow's C++ start-up log out of a default run: the log
level is set before TensorFlow loads, and the lines that TensorFlow 2.2x
prints regardless of that level (the oneDNN notice, absl's "before
InitializeLog" warning and other absl INFO/WARNING lines printed before the
level is read, and, on a machine without an NVIDIA driver, the GPU build's
failed cuInit) are dropped from stderr.
Set ``TF_CPP_MIN_LOG_LEVEL`` yourself to see TensorFlow's log unfiltered.
Before Keras loads, the backend is checked (`keras_semppl.cli.backend_check`):
an unknown or missing one is one line naming what to install.
"""

import os
import re
import sys
import threading

#: Read by `keras_semppl/__init__.py`: while True, importing the package does
#: not load its API (and Keras) yet.
PARSING = False

_NOISE = re.compile(
    r"oneDNN custom operations are on"
    r"|All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    # absl INFO / WARNING lines printed before TensorFlow reads its log level
    # (level 2 hides exactly these), e.g. "I0000 00:00:17.. 12 cudart_stub.cc:31] ...".
    r"|^[IW]\d{4} [\d:.]+\s+\d+ \S+:\d+\] ")
#: The GPU build of TensorFlow on a machine without an NVIDIA driver reports a
#: failed cuInit as an error although it then runs on the CPU as asked; kept
#: where a driver exists, since there it is a real problem.
_NO_DRIVER = re.compile(r"^E\d{4} .*\] failed call to cuInit")


def is_noise(line, has_driver):
    """True for a TensorFlow start-up line that a default run drops."""
    return bool(_NOISE.search(line) or (not has_driver and _NO_DRIVER.search(line)))


def _filter_stderr():
    """Routes file descriptor 2 through a thread that drops `_NOISE` lines.

    Returns a function that restores the original stderr and flushes.
    """
    original = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    has_driver = os.path.exists("/dev/nvidiactl")

    def forward():
        with os.fdopen(read_end, "rb") as pipe:
            for line in pipe:
                if not is_noise(line.decode("utf-8", "replace"), has_driver):
                    os.write(original, line)

    thread = threading.Thread(target=forward, daemon=True)
    thread.start()

    def restore():
        sys.stderr.flush()
        os.dup2(original, 2)  # closes the pipe's last write end: the thread ends
        thread.join(timeout=5)
        os.close(original)

    return restore


def main(argv=None):
    global PARSING
    PARSING = True
    try:
        from keras_semppl.cli import main as cli

        args = cli.build_parser().parse_args(argv)
    finally:
        PARSING = False
    restore = None
    if "TF_CPP_MIN_LOG_LEVEL" not in os.environ:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
        restore = _filter_stderr()
    try:
        from keras_semppl.cli.backend_check import backend_problem

        problem = backend_problem()  # one line, before Keras' own traceback
        if problem is not None:
            raise SystemExit(f"semppl: {problem}")
        import keras_semppl

        keras_semppl._load_api()  # registers every class, for load_model
        return cli.run_command(args)
    finally:
        if restore is not None:
            restore()


if __name__ == "__main__":
    # `python -m keras_semppl_cli`: run the module under its own name, which
    # keras_semppl/__init__.py looks for.
    import keras_semppl_cli

    sys.exit(keras_semppl_cli.main())

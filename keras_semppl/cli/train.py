"""Train SemPPL (default: the embedded digits set) and compare with a supervised baseline.

With no arguments: scikit-learn's bundled 8x8 digits, resized, 10% of the
training labels kept (14 per class); trains SemPPL, then the same encoder
supervised on the labelled images only, and reports the held-out accuracy of
both under every protocol (`keras_semppl.evaluation.method_comparison`), next
to classical raw-pixel baselines.

`--dataset` picks other data: "folder:PATH" (PATH/<class>/<image>, plus an
optional `--unlabelled-dir`) or a TFDS name ("cifar10", "cifar100", "stl10",
"imagenette/160px-v2", prepared in `--data-dir`; never downloads). The
held-out set is the data set's test/validation split where it has one,
else a stratified `--val-fraction` of the labelled pool.

`--preset NAME` fills in a named set of flag values, e.g. "cifar10-gpu"
(CIFAR-10 at 1 % labels with a ResNet-18, sized for about 9 minutes on one
GPU; `keras_semppl.cli.train_presets`); flags given explicitly override it.

Plan and run: `keras_semppl.cli.train_plan` turns the command line into an
immutable `TrainPlan` without importing Keras; `keras_semppl.cli.train_run`
executes it.
"""

from keras_semppl.cli.train_plan import add_arguments  # noqa: F401  (the subcommand's parser)
from keras_semppl.cli.train_plan import resolve_plan


def run(args):
    """Runs ``semppl train`` on the parsed arguments; returns the exit status."""
    from keras_semppl.cli.train_run import execute

    execute(resolve_plan(args))
    return 0

"""A toy run of `semppl train --preset cifar10-gpu` on mocked TFDS CIFAR-10:
the preset's ResNet-18 at full width with the CIFAR stem, two steps, and
the projected-time line it prints.

The sizes are overridden by flags, as a user would: 100 mock images, 8 px
digits-style views (two, no small ones), a batch of 12 (10 negatives need
at least 11 examples), two steps. Only the training runs (the report
after it is tested elsewhere). This shows that the preset runs, not how
fast: its 9 minutes are an estimate for a GPU (keras_semppl/cli/train_presets.py).
"""

import re
import time

import keras
import pytest
import tensorflow_datasets as tfds

from keras_semppl.augment.host_views import make_view_fn
from keras_semppl.cli.main import build_parser
from keras_semppl.cli.train_plan import resolve_plan
from keras_semppl.cli.train_run import fit_semppl
from keras_semppl.cli.train_run import load_data
from keras_semppl.cli.train_run import training_dataset

TOY = ["--data-dir", "/nonexistent/tfds", "--labels-per-class", "2",
       "--views-preset", "digits", "--image-size", "8", "--batch-size", "12",
       "--labelled-per-batch", "4", "--steps-per-epoch", "2", "--epochs", "1",
       "--verbose", "0"]
LINE = re.compile(r"^projected: (\d+) steps x ([0-9.]+) s = ([0-9.]+) min "
                  r"\(budget: 7 min for training that the cifar10-gpu preset was sized for\)$")


@pytest.mark.integration
@pytest.mark.slow  # compiling ResNet-18's step: 30-65 s on 2 shared cores
@pytest.mark.backend("tensorflow", reason="CI time: the preset is backend-neutral configuration, "
                     "resolved in every pass by test_train_presets.py; this run passed on jax, "
                     "tensorflow and torch when it was written")
def test_toy_run_builds_the_cifar_resnet18_and_prints_its_projection(capsys):
    plan = resolve_plan(build_parser().parse_args(["train", "--preset", "cifar10-gpu", *TOY]))
    with tfds.testing.mock_data(num_examples=100):
        data = load_data(plan)
    views = plan.views(data.images.shape[1])
    view_fn = make_view_fn(views, seed=plan.seed, placement=plan.augment_on)
    dataset, steps = training_dataset(plan, data, view_fn)
    start = time.perf_counter()
    model, history, _ = fit_semppl(plan, data, dataset, views, steps)
    seconds = time.perf_counter() - start

    # The preset's network, width kept: ResNet-18, 512 features, CIFAR stem
    # (a 3x3 stride-1 first convolution and no max-pool), BYOL's heads.
    encoder = model.encoder
    assert encoder.name == "resnet18" and encoder.outputs[0].shape[-1] == 512
    convs = [layer for layer in encoder.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == 1 + 16 + 3  # stem, 8 blocks of two, 3 projection shortcuts
    assert convs[0].kernel_size == (3, 3) and convs[0].strides == (1, 1)
    assert not any(isinstance(layer, keras.layers.MaxPooling2D) for layer in encoder.layers)
    assert (model.queue_size, model.projection_dim, model.projector_hidden_dim) == (
        2560, 256, 4096)
    assert (model.num_large_views, model.num_small_views) == (2, 0)  # overridden
    assert len(history["loss"]) == 1

    # Printed once, after 1 warm-up step and 1 timed one: N steps x S s = M min.
    lines = [line for line in capsys.readouterr().out.splitlines()
             if line.startswith("projected:")]
    assert len(lines) == 1, lines
    match = LINE.match(lines[0])
    assert match, lines[0]
    n, s, m = int(match[1]), float(match[2]), float(match[3])
    assert n == 2  # --epochs 1 x --steps-per-epoch 2
    assert m == pytest.approx(n * s / 60, abs=0.005)
    assert 0 < s <= seconds  # the timed step is part of the fit

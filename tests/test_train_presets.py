"""`semppl train --preset cifar10-gpu`: the resolved plan against the paper's
settings written out here, user flags over the preset, a bad preset name,
and the multiply-add count behind the preset's time estimate."""

import math

import pytest

from keras_semppl.cli.main import build_parser
from keras_semppl.cli.main import main
from keras_semppl.cli.train_plan import resolve_plan
from keras_semppl.cli.train_presets import PRESETS

pytestmark = pytest.mark.backend_free


def _plan(*argv):
    return resolve_plan(build_parser().parse_args(["train", *argv]))


def test_cifar10_gpu_resolves_to_the_papers_settings():
    plan = _plan("--preset", "cifar10-gpu")
    # CIFAR-10 at 1 % labels: 50 per class of 5,000 (the paper's 1 % regime).
    assert (plan.dataset, plan.image_size, plan.labels_per_class, plan.label_fraction) == (
        "cifar10", 32, 50, None)
    # ResNet-18 (its CIFAR stem follows from the 32 px views; see the toy run).
    assert plan.encoder == "resnet18"
    # L = 4 large views of 32 px, S = 2 small of 16 px (MAE-CT_SemPPL's CIFAR setting).
    assert (plan.views_preset, plan.num_large_views, plan.num_small_views) == ("cifar", 4, 2)
    views = plan.views(image_side=32)
    assert [v.size for v in views.large] == [32] * 4
    assert [v.size for v in views.small] == [16] * 2
    for view in views.large + views.small:
        # BYOL (Grill et al. 2020, Table 6): crop aspect 3/4-4/3, flip 0.5, colour
        # jitter p=0.8 with strengths 0.4 / 0.4 / 0.2 / 0.1, grayscale 0.2.
        assert view.aspect_ratio_range == pytest.approx((3 / 4, 4 / 3))
        assert view.flip_prob == 0.5 and view.jitter_prob == 0.8
        assert (view.brightness, view.contrast, view.saturation, view.hue) == (
            0.4, 0.4, 0.2, 0.1)
        assert view.grayscale_prob == 0.2
        assert view.blur_prob == 0.0  # no blur at 32 px (SimCLR appendix B.9)
    assert all(v.area_range == (0.08, 1.0) for v in views.large)  # BYOL
    assert all(v.area_range == (0.05, 0.14) for v in views.small)  # SwAV's small crops
    # BYOL's asymmetric solarisation: never in view one, p=0.2 in view two.
    assert [v.solarize_prob for v in views.large] == [0.0, 0.2, 0.0, 0.2]
    assert plan.augment_on == "device"
    # BYOL's heads: 4096 wide, 256-d embeddings; MAE-CT_SemPPL's queue of
    # 2,560 per view and k = 1.
    assert (plan.hidden_dim, plan.projection_dim) == (4096, 256)
    assert (plan.queue_size, plan.knn_k) == (2560, 1)
    model = plan.model_kwargs()
    assert (model["projector_hidden_dim"], model["predictor_hidden_dim"]) == (4096, 4096)
    assert "lambda_invariance" not in model  # the model's own default
    # The time-budget settings stated in the preset's docstring.
    assert (plan.batch_size, plan.labelled_per_batch, plan.epochs) == (512, 128, 16)
    assert plan.learning_rate == pytest.approx(3e-3)
    assert plan.precision == "auto" and plan.steps_per_epoch is None
    assert not plan.baseline and not plan.classical
    assert (plan.preset, plan.training_budget_minutes) == ("cifar10-gpu", 7.0)


def test_auto_precision_picks_bf16_on_an_h100(monkeypatch):
    from keras_semppl import precision

    monkeypatch.setattr(precision, "_accelerator",
                        lambda: ("GPU (compute capability (9, 0))", True))
    plan = _plan("--preset", "cifar10-gpu")
    assert precision.resolve_precision(plan.precision, encoder=plan.encoder)[0] == "bf16"


@pytest.mark.parametrize("flags,changed", [
    (["--epochs", "3", "--batch-size", "256"], dict(epochs=3, batch_size=256)),
    (["--learning-rate", "1e-3", "--queue-size", "4096"],
     dict(learning_rate=1e-3, queue_size=4096)),
    (["--dataset", "folder:/data/cifar", "--encoder", "small_convnet"],
     dict(dataset="folder:/data/cifar", encoder="small_convnet")),
    # One budget flag replaces the other: the preset's 50 per class goes.
    (["--label-fraction", "0.1"], dict(label_fraction=0.1, labels_per_class=None)),
    (["--labels-per-class", "400"], dict(labels_per_class=400)),
    (["--baseline", "--classical", "--augment-on", "host"],
     dict(baseline=True, classical=True, augment_on="host")),
    (["--labelled-per-batch", "0"], dict(labelled_per_batch=None)),  # 0: uniform batches
    (["--views-preset", "digits", "--image-size", "8"],
     dict(views_preset="digits", image_size=8, num_large_views=2, num_small_views=0)),
    (["--epochs", "16"], {}),  # the preset's own value, given explicitly
])
def test_explicit_flags_override_the_preset(flags, changed):
    preset = _plan("--preset", "cifar10-gpu")
    plan = _plan("--preset", "cifar10-gpu", *flags)
    for name, value in changed.items():
        assert getattr(plan, name) == value, name
    untouched = set(PRESETS["cifar10-gpu"].flags) - set(changed) - {"label_fraction"}
    for name in untouched:
        assert getattr(plan, name) == getattr(preset, name), name


def test_without_a_preset_the_builtin_defaults_stay():
    plan = _plan("--no-baseline")
    assert (plan.epochs, plan.batch_size, plan.queue_size, plan.encoder) == (
        40, 128, 512, "small_convnet")
    assert not plan.baseline and plan.classical and plan.preset is None
    assert plan.training_budget_minutes is None


def test_a_bad_combination_says_which_value_came_from_the_preset():
    with pytest.raises(SystemExit) as caught:
        _plan("--preset", "cifar10-gpu", "--batch-size", "64")
    assert str(caught.value.code) == (
        "--labelled-per-batch must be in [0, --batch-size=64); got 128. "
        "(--labelled-per-batch 128 is the cifar10-gpu preset's value; "
        "give --labelled-per-batch as well.)")
    with pytest.raises(SystemExit, match=r"got 128\.$"):  # the user's own value
        _plan("--preset", "cifar10-gpu", "--batch-size", "64", "--labelled-per-batch", "128")


def test_unknown_preset_is_an_error_listing_the_presets():
    with pytest.raises(SystemExit) as caught:
        main(["train", "--preset", "cifar10-tpu"])
    assert str(caught.value.code) == (
        "--preset: unknown preset 'cifar10-tpu'; known presets: cifar10-gpu.")


def test_preset_flags_are_train_flags_left_unset_by_default():
    # A preset value can only be told from a user's if the flag parses to None.
    parsed = vars(build_parser().parse_args(["train"]))
    for preset in PRESETS.values():
        for name in preset.flags:
            assert name in parsed and parsed[name] is None, (preset.name, name)


def test_resnet18_multiply_adds_behind_the_estimate():
    """The preset's docstring counts 555.4 M multiply-adds per 32 px view and
    138.9 M per 16 px view; recounted here from He et al.'s layer list (CIFAR
    stem: 3x3 stride 1, no max-pool), independently of the Keras model."""
    def count(side):
        total = side * side * 3 * 3 * 3 * 64  # stem
        channels, size = 64, side
        for stage, width in enumerate((64, 128, 256, 512)):
            for block in range(2):
                stride = 2 if stage and not block else 1
                out = size // stride
                total += out * out * 9 * channels * width  # first 3x3
                total += out * out * 9 * width * width  # second 3x3
                if channels != width:
                    total += out * out * channels * width  # 1x1 projection shortcut
                channels, size = width, out
        return total

    assert count(32) == 555_417_600 and count(16) == 138_854_400
    import keras

    from keras_semppl.encoders.resnet import resnet18

    counted = 0
    for layer in resnet18((32, 32, 3), stem="cifar").layers:
        if isinstance(layer, keras.layers.Conv2D):
            shape = layer.output.shape
            h, w = shape[1:3] if layer.data_format == "channels_last" else shape[2:4]
            counted += h * w * math.prod(layer.kernel.shape)
    assert counted == count(32)


def test_the_epoch_count_fits_the_budget_under_the_stated_assumptions():
    """The docstring's estimate, redone from its stated inputs: 555.4 M / 138.9 M
    multiply-adds per 32 / 16 px view, backward = 2 x forward, BYOL's heads,
    80 TFLOP/s sustained, 49,500 unlabelled CIFAR-10 images per epoch."""
    plan = _plan("--preset", "cifar10-gpu")
    large, small = 555_417_600, 138_854_400
    projector = 512 * 4096 + 4096 * 256
    predictor = 256 * 4096 + 4096 * 256
    views = plan.num_large_views + plan.num_small_views
    online = 3 * (plan.num_large_views * large + plan.num_small_views * small
                  + views * (projector + predictor))
    target = plan.num_large_views * (large + projector)
    flop_per_step = 2 * (online + target) * plan.batch_size
    assert flop_per_step / 1e12 == pytest.approx(10.1, abs=0.05)
    steps = plan.epochs * (49_500 // (plan.batch_size - plan.labelled_per_batch))
    assert steps == 2048
    minutes = steps * flop_per_step / 80e12 / 60
    assert minutes == pytest.approx(4.29, abs=0.01)
    assert minutes + 2.0 <= PRESETS["cifar10-gpu"].budget_minutes  # + 2 min assumed outside fit
    # The training budget holds down to a sustained 49 TFLOP/s.
    assert steps * flop_per_step / (PRESETS["cifar10-gpu"].training_minutes * 60) < 49.2e12

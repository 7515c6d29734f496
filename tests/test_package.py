"""The package face: `import keras_semppl` alone restores everything it saves,
and the `semppl` command parses its arguments without importing Keras.

Every serialisable object of the package is written (a `.keras` file for
models, Keras' JSON form for layers, optimizer and schedules) and read back in
a fresh process whose only import of ours is `import keras_semppl`, with
Keras' default ``safe_mode=True``.
"""

import json
import os
import subprocess
import sys
import textwrap
import time

import keras
import numpy as np
import pytest

from keras_semppl.augment import DeviceViews
from keras_semppl.augment import RandomApply
from keras_semppl.augment import RandomGaussianBlur
from keras_semppl.augment import RandomResizedCrop
from keras_semppl.augment import Solarize
from keras_semppl.augment import ViewConfig
from keras_semppl.encoders.small_convnet import small_convnet
from keras_semppl.layers import BatchNormalization
from keras_semppl.layers import EmbeddingQueue
from keras_semppl.layers import KNNPseudoLabeler
from keras_semppl.layers import MLPHead
from keras_semppl.layers import SemanticPositiveSampler
from keras_semppl.models import SemPPL
from keras_semppl.optimizers import LARS
from keras_semppl.schedules import WarmupCosineDecay
from tests.test_serialization import OPTIONS
from tests.test_serialization import TINY
from tests.toy_data import toy_batch_dict

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _objects():
    """{name: object} of every serialisable class but the model."""
    views = (ViewConfig(size=8, area_range=(0.3, 0.9)), ViewConfig(size=8, blur_prob=0.5))
    return {
        "BatchNormalization": BatchNormalization(axis=1, momentum=0.9, fused=False),
        "EmbeddingQueue": EmbeddingQueue(num_views=2, size=8, dim=4),
        "KNNPseudoLabeler": KNNPseudoLabeler(num_classes=3, k=2),
        "MLPHead": MLPHead(hidden_dim=8, output_dim=4, use_batch_norm=True),
        "SemanticPositiveSampler": SemanticPositiveSampler(num_positives=2, seed=1),
        "DeviceViews": DeviceViews(views, (ViewConfig(size=4),), seed=2),
        "RandomResizedCrop": RandomResizedCrop(height=6, width=6, seed=3),
        "RandomApply": RandomApply(layer=Solarize(threshold=0.4), rate=0.3, seed=4),
        "Solarize": Solarize(threshold=0.6),
        "RandomGaussianBlur": RandomGaussianBlur(rate=0.5, kernel_size=5, seed=5),
        "LARS": LARS(learning_rate=0.3, momentum=0.8, weight_decay=1e-4, nesterov=True),
        "WarmupCosineDecay": WarmupCosineDecay(0.5, 100, warmup_steps=10),
    }


def _option_models():
    """{name: SemPPL} with each constructor option away from its default."""
    models = {}
    for option in OPTIONS:
        name = next(iter(option))
        side = None if option.get("num_small_views") else 8
        models[f"SemPPL[{name}]"] = SemPPL(small_convnet((side, side, 3), widths=(8, 16)),
                                           **dict(TINY, **option))
    return models


def _trained_model():
    """A fitted model with every option at once, device views and LARS."""
    keras.utils.set_random_seed(0)
    model = SemPPL(small_convnet((None, None, 3), widths=(8, 16)), **dict(
        TINY, num_large_views=2, num_small_views=1, online_probe=True, invariance="3p",
        view_augmentation=DeviceViews((ViewConfig(size=8, flip_prob=0.0),) * 2,
                                      (ViewConfig(size=4, flip_prob=0.0),), seed=3)))
    model.compile(optimizer=LARS(WarmupCosineDecay(0.1, 10, warmup_steps=2)))
    data = toy_batch_dict(n=32)
    data["small_views"] = (data["large_views"][0][:, :4, :4],)
    model.fit(data, batch_size=16, epochs=1, verbose=0)
    return model


# The fresh process: only `keras` and `keras_semppl` are imported.
_RELOAD = textwrap.dedent("""
    import json, sys
    import numpy as np
    import keras
    import keras_semppl

    folder = sys.argv[1]
    with open(folder + "/objects.json") as f:
        saved = json.load(f)
    for name, entry in saved.items():
        revived = keras.saving.deserialize_keras_object(entry["serialized"])
        assert type(revived).__name__ == entry["class"], (name, type(revived))
        config = json.loads(json.dumps(revived.get_config(), default=str))
        assert config == entry["config"], (name, config, entry["config"])
    model = keras.saving.load_model(folder + "/model.keras")
    assert type(model).__name__ == "SemPPL"
    assert type(model.optimizer).__name__ == "LARS", type(model.optimizer)
    lr = model.optimizer._learning_rate
    assert type(lr).__name__ == "WarmupCosineDecay", type(lr)
    assert type(model.view_augmentation).__name__ == "DeviceViews"
    weights = np.load(folder + "/weights.npz")
    for i, variable in enumerate(model.variables):
        if "seed_generator_state" not in variable.path:
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable),
                                          weights[str(i)], err_msg=variable.path)
    encoder = keras_semppl.evaluation.load_encoder(folder + "/model.keras")
    print("reloaded", len(saved), "objects and", len(model.variables), "variables")
""")


def _json_config(obj):
    return json.loads(json.dumps(obj.get_config(), default=str))


@pytest.mark.integration
def test_import_keras_semppl_alone_restores_everything(tmp_path):
    objects = dict(_objects(), **_option_models())
    saved = {name: {"class": type(obj).__name__, "config": _json_config(obj),
                    "serialized": keras.saving.serialize_keras_object(obj)}
             for name, obj in objects.items()}
    (tmp_path / "objects.json").write_text(json.dumps(saved, default=str))
    model = _trained_model()
    model.save(str(tmp_path / "model.keras"))
    np.savez(tmp_path / "weights.npz", **{
        str(i): keras.ops.convert_to_numpy(v) for i, v in enumerate(model.variables)})

    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run([sys.executable, "-c", _RELOAD, str(tmp_path)], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "reloaded" in result.stdout


@pytest.mark.backend_free
def test_public_api_is_reachable_from_the_top_level():
    import keras_semppl

    assert keras_semppl.SemPPL is SemPPL
    assert keras_semppl.optimizers.LARS is LARS
    for name in ("augment", "callbacks", "data", "distribute", "encoders", "evaluation",
                 "layers", "losses", "models", "plots", "schedules"):
        assert name in keras_semppl.__all__ and hasattr(keras_semppl, name), name
    assert keras_semppl.augment.DeviceViews is DeviceViews
    assert keras_semppl.encoders.resnet18 and keras_semppl.data.make_training_dataset


@pytest.mark.backend_free
def test_cli_parses_without_importing_keras():
    """`semppl --help` and `semppl train --help` answer before Keras is imported."""
    probe = textwrap.dedent("""
        import sys, time
        start = time.time()
        import keras_semppl_cli
        for argv in (["--help"], ["train", "--help"], ["evaluate", "--help"]):
            try:
                keras_semppl_cli.main(argv)
            except SystemExit:
                pass
        heavy = sorted(m for m in ("keras", "tensorflow", "jax", "torch") if m in sys.modules)
        print("HEAVY", ",".join(heavy), "SECONDS", time.time() - start)
    """)
    env = dict(os.environ, PYTHONPATH=REPO)
    start = time.time()
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    wall = time.time() - start
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip().splitlines()[-1]
    assert line.startswith("HEAVY  SECONDS"), f"frameworks imported while parsing: {line}"
    assert float(line.split()[-1]) < 1.0, line
    assert wall < 5.0, wall  # interpreter start included; generous for a loaded machine


@pytest.mark.backend_free
def test_cli_distribution_names_match_the_library():
    from keras_semppl.cli.train_plan import DISTRIBUTION_NAMES
    from keras_semppl.distribute import NAMES

    assert DISTRIBUTION_NAMES == NAMES


@pytest.mark.backend_free
def test_imports_point_downward():
    """No module of data/, evaluation/ or callbacks/ imports models/ or the
    package face (`import keras_semppl`, `from keras_semppl import ...`)."""
    import ast
    import pathlib

    package = pathlib.Path(__file__).resolve().parents[1] / "keras_semppl"
    upward = []
    for folder in ("data", "evaluation", "callbacks"):
        for path in sorted((package / folder).glob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = ([node.module] if node.module != "keras_semppl"
                             else ["keras_semppl"])
                else:
                    continue
                for name in names:
                    if name == "keras_semppl" or name.startswith("keras_semppl.models"):
                        upward.append(f"{path.relative_to(package.parent)}:{node.lineno} {name}")
    assert not upward, upward


@pytest.mark.backend_free
def test_every_flag_of_every_command_has_help_text():
    from keras_semppl.cli.main import build_parser

    commands = build_parser()._subparsers._group_actions[0].choices
    missing = [f"{name} {'/'.join(action.option_strings) or action.dest}"
               for name, parser in commands.items() for action in parser._actions
               if action.dest != "help" and not action.help]
    assert not missing, missing

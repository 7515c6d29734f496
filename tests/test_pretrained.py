"""The released SemPPL encoders: reading their pickles, the Keras forward, `semppl convert`.

No real checkpoint is used: `tests/semppl_release_fixture.py` writes the
release's parameter trees (Haiku names and shapes) with random values in
its container and 2022 byte stream. The Keras features are checked against
`_reference_features`, a NumPy forward written here from the ResNet v1
definition (He et al. 2016; Haiku's ``BlockV1``: stride on the bottleneck's
3x3, projection shortcut in each group's first block, TensorFlow's SAME
padding, BatchNorm ``(x - mean) * scale / sqrt(var + 1e-5) + offset``)
reading the Haiku tree directly.
"""

import os
import re
import shutil

import keras
import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

import keras_semppl
from keras_semppl.pretrained import CheckpointError
from keras_semppl.pretrained import haiku_resnet
from keras_semppl.pretrained import read_checkpoint
from tests import semppl_release_fixture as fixture

MEAN_RGB = np.array([0.485, 0.456, 0.406])
STD_RGB = np.array([0.229, 0.224, 0.225])


# --- Independent NumPy forward ----------------------------------------------


def _same(n, k, s):
    """TensorFlow SAME: output ceil(n / s), total padding split with the extra at the end."""
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return (total // 2, total - total // 2)


def _conv(x, w, stride):
    k = w.shape[0]
    pads = ((0, 0), _same(x.shape[1], k, stride), _same(x.shape[2], k, stride), (0, 0))
    windows = sliding_window_view(np.pad(x, pads), (k, k), axis=(1, 2))[:, ::stride, ::stride]
    return np.tensordot(windows, w.astype(np.float64), axes=([3, 4, 5], [2, 0, 1]))


def _max_pool(x, k=3, stride=2):
    pads = ((0, 0), _same(x.shape[1], k, stride), _same(x.shape[2], k, stride), (0, 0))
    padded = np.pad(x, pads, constant_values=-np.inf)
    return sliding_window_view(padded, (k, k), axis=(1, 2))[:, ::stride, ::stride].max(
        axis=(-1, -2))


def _bn(x, params, state, name):
    mean = state[f"{name}/~/mean_ema"]["average"].astype(np.float64)
    var = state[f"{name}/~/var_ema"]["average"].astype(np.float64)
    p = params[name]
    return (x - mean) * p["scale"] / np.sqrt(var + 1e-5) + p["offset"]


def _reference_features(params, state, images, prefix):
    """Haiku ResNetTorso (v1) in inference, float64: images in [0, 1] -> (B, F)."""
    relu = lambda v: np.maximum(v, 0.0)  # noqa: E731
    x = (images.astype(np.float64) - MEAN_RGB) / STD_RGB
    x = relu(_bn(_conv(x, params[f"{prefix}/~/initial_conv"]["w"], 2), params, state,
                 f"{prefix}/~/initial_batchnorm"))
    x = _max_pool(x)
    g = 0
    while f"{prefix}/~/block_group_{g}/~/block_0/~/conv_0" in params:
        b = 0
        while f"{prefix}/~/block_group_{g}/~/block_{b}/~/conv_0" in params:
            name = f"{prefix}/~/block_group_{g}/~/block_{b}/~/"
            stride = 2 if g > 0 and b == 0 else 1
            shortcut = x
            if name + "shortcut_conv" in params:
                shortcut = _bn(_conv(x, params[name + "shortcut_conv"]["w"], stride),
                               params, state, name + "shortcut_batchnorm")
            bottleneck = name + "conv_2" in params
            convs = 3 if bottleneck else 2
            y = x
            for i in range(convs):
                strided = i == (1 if bottleneck else 0)
                y = _bn(_conv(y, params[name + f"conv_{i}"]["w"], stride if strided else 1),
                        params, state, name + f"batchnorm_{i}")
                if i < convs - 1:
                    y = relu(y)
            x = relu(y + shortcut)
            b += 1
        g += 1
    return x.mean(axis=(1, 2))


def _reference_head(params, state, name, x):
    h = x @ params[f"{name}/linear"]["w"] + params[f"{name}/linear"]["b"]
    h = np.maximum(_bn(h, params, state, f"{name}/batch_norm"), 0.0)
    return h @ params[f"{name}/linear_1"]["w"]


# --- The released architectures, at a size a test affords -------------------

#: name -> (depth, width in the test file, input size, file name). ResNet-50 1x
#: at its real width; the others keep their structure at fewer channels
#: (width / 8, / 16 or / 32), which the file name would contradict, so they
#: get neutral names. Input sizes cover even and odd (SAME pads differently).
CASES = {
    "resnet50_1x": (50, 1, 32, "resnet_50_1x_1_pct.pkl"),
    "resnet50_2x": (50, 2 / 16, 33, "r50_2x_narrow.pkl"),
    "resnet50_4x": (50, 4 / 16, 29, "r50_4x_narrow.pkl"),
    "resnet200_2x": (200, 2 / 32, 16, "r200_2x_narrow.pkl"),
    # Not released; the public code's basic-block ResNet, converted all the same.
    "resnet18_1x": (18, 1 / 8, 17, "r18_narrow.pkl"),
}


def _tree(case):
    depth, width, _, _ = CASES[case]
    return fixture.haiku_tree(depth, width, seed=depth + int(width * 64))


@pytest.fixture(scope="module")
def narrow_tree():
    """The narrow ResNet-50 (2x / 16) that the other tests share: on JAX a
    forward at a shape already run compiles nothing new."""
    return _tree("resnet50_2x")


NARROW_SIZE = CASES["resnet50_2x"][2]


@pytest.fixture(scope="module")
def release_files(tmp_path_factory, narrow_tree):
    folder = tmp_path_factory.mktemp("release")
    files = {}
    for case, (_, _, _, file_name) in CASES.items():
        params, state = narrow_tree if case == "resnet50_2x" else _tree(case)
        path = fixture.write_release_pickle(str(folder / file_name), params, state)
        files[case] = (path, params, state)
    return files


def _images(size, count=2, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (count, size, size, 3)).astype("float32")


@pytest.mark.parametrize("case", list(CASES))
def test_keras_encoder_matches_the_numpy_resnet_v1(release_files, case):
    depth, width, size, _ = CASES[case]
    path, params, state = release_files[case]
    checkpoint = read_checkpoint(path)
    arch = checkpoint.architecture
    assert (arch.depth, arch.width_multiplier, arch.bottleneck) == (depth, width, depth > 34)
    assert checkpoint.step == 500_000 and sorted(checkpoint.heads) == ["predictor", "projector"]
    encoder = checkpoint.encoder()
    images = _images(size)
    features = keras.ops.convert_to_numpy(encoder(images, training=False))
    expected = _reference_features(params, state, images, f"res_net{depth}")
    assert features.shape == expected.shape == (2, int((2048 if depth > 34 else 512) * width))
    assert features.dtype == np.float32
    difference = float(np.abs(features - expected).max())
    print(f"\n{case} on {keras.backend.backend()}: max |Keras - NumPy| = {difference:.3g} "
          f"(features up to {np.abs(expected).max():.3g})")
    assert np.abs(expected).max() > 0.1  # the check compares real signal
    assert difference < 1e-4, difference
    if case == "resnet50_2x":
        for name, inputs in (("projector", expected), ("predictor", None)):
            inputs = _reference_head(params, state, "projector", expected) \
                if inputs is None else inputs
            head = keras.ops.convert_to_numpy(
                checkpoint.head(name)(inputs.astype("float32"), training=False))
            want = _reference_head(params, state, name, inputs)
            assert float(np.abs(head - want).max()) < 1e-4, name


# --- Architecture inference on the released trees at full size ---------------


@pytest.mark.backend_free
@pytest.mark.parametrize("file_name", sorted(fixture.RELEASED))
def test_released_architectures_are_inferred_from_full_size_trees(file_name):
    depth, width = fixture.RELEASED[file_name]
    params, state = fixture.haiku_tree(depth, width, shapes_only=True, heads=(4096, 256),
                                       num_classes=1000)
    arch = haiku_resnet.infer_architecture(params)
    assert (arch.depth, arch.width_multiplier, arch.label) == (
        depth, width, f"ResNet-{depth} {width}x")
    assert arch.feature_dim == 2048 * width
    haiku_resnet.check_file_name(file_name, arch)  # the release's own name agrees
    weights = haiku_resnet.encoder_weights(params, state, arch)
    blocks = sum(arch.blocks_per_group)
    assert len(weights) == 2 * (1 + 3 * blocks + 4)  # stem, 3 convs a block, 4 projections
    assert weights["stage4_block3_3_conv"][0].shape == (1, 1, 512 * width, 2048 * width)
    assert [w.shape for w in weights["stem_bn"]] == [(64 * width,)] * 4
    heads = haiku_resnet.mlp_heads(params, state)
    assert {n: (h.input_dim, h.output_dim) for n, h in heads.items()} == {
        "projector": (2048 * width, 256), "predictor": (256, 256)}
    other = "resnet_200_2x_1pct.pkl" if depth == 50 else "resnet_50_2x_1pct.pkl"
    with pytest.raises(CheckpointError, match=rf"name says ResNet-\d+ 2x but its parameters "
                                              rf"are ResNet-{depth} {width}x"):
        haiku_resnet.check_file_name(other, arch)


@pytest.mark.backend_free
@pytest.mark.parametrize("depth", [18, 34, 101, 152])
def test_the_other_depths_of_the_public_code_are_inferred(depth):
    params, _ = fixture.haiku_tree(depth, 1, shapes_only=True, heads=None)
    arch = haiku_resnet.infer_architecture(params)
    assert (arch.depth, arch.bottleneck) == (depth, depth > 34)


# --- Reading the container ---------------------------------------------------


@pytest.mark.backend_free
def test_device_axis_and_haiku_flat_mappings_read_the_same(narrow_tree, tmp_path):
    params, state = narrow_tree
    path = fixture.write_release_pickle(str(tmp_path / "r50.pkl"), params, state,
                                        device_axis=True, flat_mapping=True)
    checkpoint = read_checkpoint(path)
    assert checkpoint.architecture.label == "ResNet-50 0.125x"
    for tree, read in ((params, checkpoint.params), (state, checkpoint.state)):
        assert sorted(tree) == sorted(read)
        for module, values in tree.items():
            for name, value in values.items():
                np.testing.assert_array_equal(read[module][name], value, err_msg=module + name)


@pytest.mark.backend_free
def test_mappings_of_unknown_classes_are_read_as_dicts(narrow_tree, tmp_path):
    """An experiment state of another package's mapping class (rebuilt by a
    call with a dict, or filled item by item) still gives up its trees."""
    params, state = narrow_tree
    from keras_semppl.pretrained.unpickle import load_restricted

    path = fixture.write_release_pickle(str(tmp_path / "plain.pkl"), params, state)
    trees = load_restricted(path)["experiment_state"]  # rewrapped below
    by_call = fixture.Reduce(fixture.Global("some_package.state", "ExperimentState"),
                             ({"online_params": fixture.Reduce(
                                 fixture.Global("some_package.tree", "Tree"), (),
                                 None, None, iter(trees["online_params"].items())),
                               "online_state": trees["online_state"]},))
    path = fixture.write_pickle(str(tmp_path / "wrapped.pkl"),
                                {"experiment_state": by_call, "step": 7})
    checkpoint = read_checkpoint(path)
    assert checkpoint.architecture.label == "ResNet-50 0.125x" and checkpoint.step == 7
    np.testing.assert_array_equal(checkpoint.params["res_net50/~/initial_conv"]["w"],
                                  params["res_net50/~/initial_conv"]["w"])


@pytest.mark.backend_free
def test_the_jax_numpy_and_dill_array_forms_all_read_as_numpy(tmp_path):
    from keras_semppl.pretrained.unpickle import load_restricted

    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    recon = fixture.Global("numpy.core.multiarray", "_reconstruct")
    jax_array = fixture.Reduce(  # jax.Array (JAX 0.4) pickles like a DeviceArray
        fixture.Global("jax._src.array", "_reconstruct_array"),
        (recon, (fixture.Global("numpy", "ndarray"), (0,), b"b"), a.__reduce__()[2], {}))
    obj = {"dill": fixture.dill_array(a), "device": fixture.device_array(a), "jax": jax_array,
           "plain": a, "scalar": np.float32(2.5), "int": np.int64(7)}
    path = fixture.write_pickle(str(tmp_path / "arrays.pkl"), obj)
    read = load_restricted(path)
    for key in ("dill", "device", "jax", "plain"):
        assert type(read[key]) is np.ndarray and read[key].dtype == np.float32, key
        np.testing.assert_array_equal(read[key], a)
    assert read["scalar"] == np.float32(2.5) and read["int"] == 7


@pytest.mark.backend_free
def test_the_reader_runs_nothing_that_the_stream_names(tmp_path):
    marker = tmp_path / "ran"
    payload = fixture.Reduce(fixture.Global("os", "system"), (f"touch {marker}",))
    path = fixture.write_pickle(str(tmp_path / "evil.pkl"), {"experiment_state": payload})
    with pytest.raises(CheckpointError, match=r"experiment_state is an object of class "
                                              r"os\.system \(not a mapping\)"):
        read_checkpoint(path)
    assert not marker.exists()


def _write_bytes(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


def _bad_file(kind, folder, narrow_tree):
    params, state = narrow_tree
    good = fixture.write_release_pickle(str(folder / "good.pkl"), params, state)
    if kind == "missing":
        return str(folder / "nothing.pkl")
    if kind == "folder":
        return str(folder)
    if kind == "empty":
        return _write_bytes(folder / "empty.pkl", b"")
    if kind == "truncated":
        data = open(good, "rb").read()
        return _write_bytes(folder / "cut.pkl", data[: len(data) // 2])
    if kind == "html":
        return _write_bytes(folder / "page.pkl", b"<?xml version='1.0'?><Error>AccessDenied")
    if kind == "zip":
        return _write_bytes(folder / "model.pkl", b"PK\x03\x04" + b"\0" * 40)
    if kind == "garbage":
        return _write_bytes(folder / "noise.pkl", b"\x80\x02\xff\xfe" + b"\x07" * 40)
    if kind == "list":
        return fixture.write_pickle(str(folder / "list.pkl"), [1, 2, 3])
    if kind == "other_dict":
        return fixture.write_pickle(str(folder / "d.pkl"), {"params": {}, "epoch": 3})
    if kind == "no_state":
        return fixture.write_pickle(str(folder / "s.pkl"),
                                    {"experiment_state": {"online_params": {}}})
    if kind == "no_encoder":
        tree = {"projector/linear": {"w": np.zeros((2, 2), np.float32)}}
        return fixture.write_release_pickle(str(folder / "e.pkl"), tree, {})
    if kind == "wrong_shape":
        bad = dict(params)
        bad["res_net50/~/block_group_1/~/block_2/~/conv_1"] = {
            "w": np.zeros((3, 3, 16, 17), np.float32)}
        return fixture.write_release_pickle(str(folder / "w.pkl"), bad, state)
    if kind == "sk_name":
        return shutil.copy(good, str(folder / "sk_resnet_50_1x_1_pct.pkl"))
    if kind == "sk_modules":
        bad = dict(params)
        bad["res_net50/~/block_group_0/~/block_0/~/selective_kernel"] = {
            "w": np.zeros((1, 1, 4, 4), np.float32)}
        return fixture.write_release_pickle(str(folder / "sk.pkl"), bad, state)
    raise AssertionError(kind)


BAD_FILES = {
    "missing": r"does not exist",
    "folder": r"is a folder; expected a \.pkl file",
    "empty": r"is empty \(0 bytes\)",
    "truncated": r"is truncated: its pickle stream ends after \d+ bytes",
    "html": r"is not a pickle: it holds an XML/HTML page",
    "zip": r"is not a pickle: it holds a zip archive",
    "garbage": r"is a damaged pickle",
    "list": r"holds a list; expected a SemPPL checkpoint",
    "other_dict": r"holds a dict with keys \['epoch', 'params'\]; expected a SemPPL checkpoint",
    "no_state": r"experiment_state is a dict with keys \['online_params'\]; expected",
    "no_encoder": r"online_params holds no Haiku ResNet encoder .*'projector/linear'",
    "wrong_shape": r"block_group_1/~/block_2/~/conv_1/w has shape \(3, 3, 16, 17\); "
                   r"ResNet-50 0.125x has \(3, 3, 16, 16\) there",
    "sk_name": r"selective-kernel \(SK\) ResNets are not supported: the public SemPPL code "
               r"defines no SK network",
    "sk_modules": r"blocks hold modules \['selective_kernel'\] beyond a plain ResNet v1 "
                  r"block's; selective-kernel \(SK\)",
}


@pytest.mark.backend_free
@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_bad_files_get_a_one_line_error_naming_what_was_found(kind, tmp_path, narrow_tree):
    path = _bad_file(kind, tmp_path, narrow_tree)
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path)
    message = str(info.value)
    assert "\n" not in message, message
    assert re.search(BAD_FILES[kind], message), message
    if kind not in ("sk_name",):
        assert os.path.basename(path) in message, message


# --- The Keras file and the command line -------------------------------------


def test_image_normalization_standardises_per_channel_and_serialises():
    from tests.serialization import run_serialization_test

    kwargs = dict(mean=(0.5, 0.25, 0.125), std=(0.5, 0.2, 0.4), name="norm")
    layer, revived = run_serialization_test(keras_semppl.layers.ImageNormalization, kwargs)
    images = _images(4, count=1)
    want = (images - np.array(kwargs["mean"])) / np.array(kwargs["std"])
    for norm in (layer, revived):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(norm(images)), want, atol=1e-6)
    default = keras_semppl.layers.ImageNormalization()
    np.testing.assert_allclose(keras.ops.convert_to_numpy(default(images)),
                               (images - MEAN_RGB) / STD_RGB, atol=1e-6)


def test_a_converted_encoder_round_trips_through_a_keras_file(narrow_tree, tmp_path):
    from keras_semppl.evaluation.embed import load_encoder
    from keras_semppl.io.atomic import save_model

    params, state = narrow_tree
    path = fixture.write_release_pickle(str(tmp_path / "r50.pkl"), params, state)
    encoder = keras_semppl.pretrained.load(path, image_size=NARROW_SIZE)
    saved = save_model(encoder, str(tmp_path / "encoder.keras"))
    images = _images(NARROW_SIZE, seed=1)
    before = keras.ops.convert_to_numpy(encoder(images, training=False))
    for reloaded in (keras.saving.load_model(saved), load_encoder(saved)):
        assert any(isinstance(layer, keras_semppl.layers.ImageNormalization)
                   for layer in reloaded.layers)
        after = keras.ops.convert_to_numpy(reloaded(images, training=False))
        np.testing.assert_allclose(after, before, rtol=0, atol=1e-6)
    np.testing.assert_allclose(
        before, _reference_features(params, state, images, "res_net50"), rtol=0, atol=1e-4)


def _image_folder(root):
    """Two classes of two small PNGs each: evaluation then embeds batches of two,
    the shape the forward test already ran."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    for label in ("cats", "dogs"):
        os.makedirs(root / label)
        for i in range(2):
            pixels = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
            (root / label / f"{i}.png").write_bytes(tf.io.encode_png(pixels).numpy())
    return str(root)


@pytest.mark.integration
@pytest.mark.backend("jax", reason="one end-to-end run of the command suffices")
def test_semppl_convert_then_evaluate_on_an_image_folder(narrow_tree, tmp_path, capsys):
    from keras_semppl.cli.main import main

    params, state = narrow_tree
    path = fixture.write_release_pickle(str(tmp_path / "r50.pkl"), params, state, step=1234)
    output = str(tmp_path / "encoder.keras")
    assert main(["convert", path, "--output", output, "--image-size", str(NARROW_SIZE),
                 "--heads"]) == 0
    out = capsys.readouterr().out
    assert "r50.pkl: ResNet-50 0.125x (blocks 3-4-6-3, 256 features" in out, out
    assert "step 1234" in out
    for name in ("encoder.keras", "encoder_projector.keras", "encoder_predictor.keras"):
        assert os.path.exists(tmp_path / name), name
    folder = _image_folder(tmp_path / "images")
    assert main(["evaluate", output, "--dataset", f"folder:{folder}", "--protocol", "knn",
                 "--val-fraction", "0.5", "--knn-k", "1", "--no-confusion"]) == 0
    out = capsys.readouterr().out
    # Images resized to the encoder's 33 px; 2 references and 2 held-out images.
    assert re.search(r"^knn\s+[0-9.]+\s+[0-9.]+\s+2\s+2\b", out, re.M), out
    with pytest.raises(SystemExit, match=r"semppl convert: --output must end with \.keras"):
        main(["convert", path, "--output", str(tmp_path / "encoder.h5")])
    with pytest.raises(SystemExit, match=r"semppl convert: .*nothing\.pkl' does not exist"):
        main(["convert", str(tmp_path / "nothing.pkl"), "--output", output])

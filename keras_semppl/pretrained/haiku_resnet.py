"""Haiku ResNet v1 parameter trees: the architecture they encode, and their Keras names.

The SemPPL release builds its encoder as ``ResNetTorso`` (``utils/networks.py``
of google-deepmind/semppl, after BYOL's), on Haiku's
``hk.nets.ResNet.BlockGroup`` with ResNet v1 blocks
(``haiku/_src/nets/resnet.py``, Haiku 0.0.9). Its Haiku parameter tree, for
an encoder module named ``P`` (``res_net50``, ``res_net200``, ...), is:

* ``P/~/initial_conv``: ``w`` (7, 7, 3, 64 w); ``P/~/initial_batchnorm``:
  ``scale``, ``offset`` (1, 1, 1, 64 w);
* ``P/~/block_group_G/~/block_B/~/conv_I`` (``w``, HWIO, no bias) and
  ``.../batchnorm_I`` (``scale``, ``offset``) for I = 0, 1, 2 (bottleneck:
  1x1, 3x3 carrying the stride, 1x1 to 4x) or 0, 1 (basic: two 3x3);
* ``.../block_0/~/shortcut_conv`` (1x1, the group's stride) and
  ``.../shortcut_batchnorm`` in the first block of every group;
* the state: ``<batchnorm>/~/mean_ema`` and ``.../var_ema``, each with
  ``average`` (the debiased moving statistic used at inference), ``hidden``
  and ``counter``.

Group channels are ``width * (256, 512, 1024, 2048)`` (bottleneck inner
width a quarter of that) or ``width * (64, 128, 256, 512)`` (basic), the
group strides (1, 2, 2, 2). The online projector and predictor are
``networks.MLP``: ``M/linear`` (``w``, ``b``), ``M/batch_norm``,
``M/linear_1`` (``w``).
"""

import dataclasses
import os
import re

import numpy as np

from keras_semppl.pretrained.unpickle import CheckpointError

#: (blocks per group, bottleneck) -> depth, as ``utils/networks.py`` defines them.
DEPTHS = {
    ((2, 2, 2, 2), False): 18,
    ((3, 4, 6, 3), False): 34,
    ((3, 4, 6, 3), True): 50,
    ((3, 4, 23, 3), True): 101,
    ((3, 8, 36, 3), True): 152,
    ((3, 24, 36, 3), True): 200,
}
_STEM = "/~/initial_conv"
_BLOCK = re.compile(r"^(?P<prefix>.+)/~/block_group_(?P<group>\d+)/~/block_(?P<block>\d+)"
                    r"/~/(?P<layer>[^/]+)$")
_PLAIN_LAYERS = {"conv_0", "conv_1", "conv_2", "batchnorm_0", "batchnorm_1", "batchnorm_2",
                 "shortcut_conv", "shortcut_batchnorm"}
_FILE_NAME = re.compile(r"(?P<sk>sk_)?resnet_?(?P<depth>\d+)_(?P<width>\d+(?:\.\d+)?)x",
                        re.IGNORECASE)

SK_REFUSAL = (
    "selective-kernel (SK) ResNets are not supported: the public SemPPL code defines "
    "no SK network, so the layout of these parameters (the branch convolutions, the "
    "attention MLP and how they are fused) cannot be established from a public source; "
    "the plain ResNet checkpoints (resnet_50_1x/2x/4x, resnet_200_2x) load.")


@dataclasses.dataclass(frozen=True)
class Architecture:
    """A plain ResNet v1 torso as the parameter shapes give it.

    Attributes:
        prefix: the Haiku module name of the encoder (e.g. ``res_net50``).
        blocks_per_group: blocks in each of the four groups.
        bottleneck: bottleneck (1x1-3x3-1x1) or basic (3x3-3x3) blocks.
        width_multiplier: stem channels / 64 (1, 2, 4 in the release).
        depth: 18, 34, 50, 101, 152 or 200; None for another block count.
    """

    prefix: str
    blocks_per_group: tuple
    bottleneck: bool
    width_multiplier: float
    depth: int | None

    @property
    def width_label(self):
        w = self.width_multiplier
        return f"{int(w)}x" if float(w).is_integer() else f"{w:g}x"

    @property
    def label(self):
        name = f"ResNet-{self.depth}" if self.depth else (
            "ResNet (" + "-".join(map(str, self.blocks_per_group)) + " blocks)")
        return f"{name} {self.width_label}"

    def group_channels(self, group):
        """Output channels of a group's blocks."""
        base = (256 if self.bottleneck else 64) * 2**group
        return _scaled(base, self.width_multiplier)

    def inner_channels(self, group):
        """Channels of a block's first two convolutions."""
        return _scaled(64 * 2**group, self.width_multiplier)

    @property
    def feature_dim(self):
        return self.group_channels(3)


def _scaled(channels, width):
    return max(1, int(round(channels * width)))


def _names(tree, limit=6):
    names = sorted(tree)
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def find_encoder_prefix(params, where="online_params"):
    """The encoder's Haiku module name: the ``P`` of ``P/~/initial_conv``."""
    prefixes = sorted(name[: -len(_STEM)] for name in params if name.endswith(_STEM))
    if not prefixes:
        raise CheckpointError(
            f"{where} holds no Haiku ResNet encoder (no '<name>/~/initial_conv' module); "
            f"its modules are {_names(params)}.")
    if len(prefixes) > 1:
        raise CheckpointError(f"{where} holds {len(prefixes)} ResNet encoders "
                              f"({', '.join(map(repr, prefixes))}); expected one.")
    return prefixes[0]


def _shape(params, module, name):
    try:
        return tuple(np.shape(params[module][name]))
    except (KeyError, TypeError):
        raise CheckpointError(f"online_params lacks {module}/{name}, which a Haiku "
                              "ResNet v1 has.") from None


def infer_architecture(params):
    """The `Architecture` of the encoder in a Haiku parameter tree (device axis removed).

    Raises:
        CheckpointError: no encoder, an SK or otherwise unknown block layout,
            or a shape that the inferred architecture does not have.
    """
    prefix = find_encoder_prefix(params)
    stem = _shape(params, prefix + _STEM, "w")
    if len(stem) != 4 or stem[:3] != (7, 7, 3):
        raise CheckpointError(f"{prefix}{_STEM}/w has shape {stem}; a ResNet stem is "
                              "(7, 7, 3, 64 * width).")
    blocks = {}
    for name in params:
        if not name.startswith(prefix + "/~/") or name in (prefix + _STEM,):
            continue
        match = _BLOCK.match(name)
        if match is None or match["prefix"] != prefix:
            if name in (f"{prefix}/~/initial_batchnorm", f"{prefix}/~/logits"):
                continue
            raise CheckpointError(f"online_params has {name!r}, which a plain Haiku ResNet v1 "
                                  "encoder has not.")
        key = (int(match["group"]), int(match["block"]))
        blocks.setdefault(key, set()).add(match["layer"])
    extra = sorted({layer for layers in blocks.values() for layer in layers} - _PLAIN_LAYERS)
    if extra:
        raise CheckpointError(f"the encoder's blocks hold modules {extra} beyond a plain "
                              f"ResNet v1 block's; {SK_REFUSAL}")
    groups = sorted({g for g, _ in blocks})
    if groups != [0, 1, 2, 3]:
        raise CheckpointError(f"the encoder has block groups {groups}; a ResNet has 0-3.")
    counts = []
    for g in groups:
        indices = sorted(b for gg, b in blocks if gg == g)
        if indices != list(range(len(indices))):
            raise CheckpointError(f"block_group_{g} has blocks {indices}; expected 0..n-1.")
        counts.append(len(indices))
    bottleneck = "conv_2" in blocks[(0, 0)]
    arch = Architecture(prefix=prefix, blocks_per_group=tuple(counts), bottleneck=bottleneck,
                        width_multiplier=stem[3] / 64,
                        depth=DEPTHS.get((tuple(counts), bottleneck)))
    expected = expected_param_shapes(arch)
    for module, shapes in expected.items():
        for name, shape in shapes.items():
            found = _shape(params, module, name)
            if found != shape:
                raise CheckpointError(
                    f"{module}/{name} has shape {found}; {arch.label} has {shape} there.")
    for (g, b), layers in blocks.items():
        if ("shortcut_conv" in layers) != (b == 0):
            raise CheckpointError(
                f"block_group_{g}/~/block_{b} {'has' if b else 'lacks'} a projection "
                "shortcut; the release's ResNet projects in each group's first block only.")
    return arch


def _module_names(arch):
    """[(haiku conv name, haiku batchnorm name, keras layer prefix)] in network order."""
    p = arch.prefix
    names = [(f"{p}/~/initial_conv", f"{p}/~/initial_batchnorm", "stem")]
    convs = 3 if arch.bottleneck else 2
    for g, count in enumerate(arch.blocks_per_group):
        for b in range(count):
            block = f"{p}/~/block_group_{g}/~/block_{b}/~/"
            keras_block = f"stage{g + 1}_block{b + 1}_"
            if b == 0:
                names.append((block + "shortcut_conv", block + "shortcut_batchnorm",
                              keras_block + "proj"))
            for i in range(convs):
                names.append((block + f"conv_{i}", block + f"batchnorm_{i}",
                              keras_block + f"{i + 1}"))
    return names


def expected_param_shapes(arch):
    """{haiku module: {param: shape}} of the encoder ``arch`` describes."""
    shapes = {}
    stem = _scaled(64, arch.width_multiplier)
    shapes[f"{arch.prefix}/~/initial_conv"] = {"w": (7, 7, 3, stem)}
    shapes[f"{arch.prefix}/~/initial_batchnorm"] = {"scale": (1, 1, 1, stem),
                                                    "offset": (1, 1, 1, stem)}
    channels_in = stem
    for g, count in enumerate(arch.blocks_per_group):
        out, inner = arch.group_channels(g), arch.inner_channels(g)
        for b in range(count):
            block = f"{arch.prefix}/~/block_group_{g}/~/block_{b}/~/"
            if arch.bottleneck:
                convs = [(1, channels_in, inner), (3, inner, inner), (1, inner, out)]
            else:
                convs = [(3, channels_in, out), (3, out, out)]
            if b == 0:
                convs_named = [("shortcut", (1, channels_in, out))]
            else:
                convs_named = []
            convs_named += [(str(i), c) for i, c in enumerate(convs)]
            for key, (k, cin, cout) in convs_named:
                conv = "shortcut_conv" if key == "shortcut" else f"conv_{key}"
                norm = "shortcut_batchnorm" if key == "shortcut" else f"batchnorm_{key}"
                shapes[block + conv] = {"w": (k, k, cin, cout)}
                shapes[block + norm] = {"scale": (1, 1, 1, cout), "offset": (1, 1, 1, cout)}
            channels_in = out
    return shapes


def _vector(tree, module, name, channels, where):
    try:
        value = np.asarray(tree[module][name], dtype=np.float32)
    except (KeyError, TypeError):
        raise CheckpointError(f"{where} lacks {module}/{name}.") from None
    if value.size != channels:
        raise CheckpointError(f"{where}: {module}/{name} has shape {value.shape}; expected "
                              f"{channels} values.")
    return value.reshape(channels)


def batchnorm_weights(params, state, module, channels):
    """Keras BatchNormalization weights [gamma, beta, moving mean, moving variance]."""
    return [
        _vector(params, module, "scale", channels, "online_params"),
        _vector(params, module, "offset", channels, "online_params"),
        _vector(state, module + "/~/mean_ema", "average", channels, "online_state"),
        _vector(state, module + "/~/var_ema", "average", channels, "online_state"),
    ]


def encoder_weights(params, state, arch):
    """{keras layer name: weights} for `keras_semppl.encoders.resnet_v1`'s layer names."""
    weights = {}
    for conv, norm, keras_name in _module_names(arch):
        kernel = np.asarray(params[conv]["w"], dtype=np.float32)
        weights[f"{keras_name}_conv"] = [kernel]
        weights[f"{keras_name}_bn"] = batchnorm_weights(params, state, norm, kernel.shape[-1])
    return weights


@dataclasses.dataclass(frozen=True)
class MLPHead:
    """A ``networks.MLP`` head: Linear(+bias) -> BatchNorm -> ReLU -> Linear(no bias)."""

    name: str
    hidden_w: np.ndarray
    hidden_b: np.ndarray
    batchnorm: list
    output_w: np.ndarray

    @property
    def input_dim(self):
        return self.hidden_w.shape[0]

    @property
    def output_dim(self):
        return self.output_w.shape[1]


def mlp_heads(params, state):
    """{name: `MLPHead`} for every top-level ``networks.MLP`` module in the tree."""
    heads = {}
    for name in sorted(params):
        if not name.endswith("/linear") or "/~/" in name:
            continue
        head = name[: -len("/linear")]
        needed = (f"{head}/batch_norm", f"{head}/linear_1")
        if not all(n in params for n in needed) or "b" not in params[name]:
            continue
        w = np.asarray(params[name]["w"], dtype=np.float32)
        out = np.asarray(params[f"{head}/linear_1"]["w"], dtype=np.float32)
        if w.ndim != 2 or out.ndim != 2 or out.shape[0] != w.shape[1]:
            continue
        try:
            norm = batchnorm_weights(params, state, f"{head}/batch_norm", w.shape[1])
        except CheckpointError:
            continue
        heads[head] = MLPHead(head, w, np.asarray(params[name]["b"], np.float32).reshape(-1),
                              norm, out)
    return heads


def name_says(path):
    """(depth, width, is_sk) from a release file name such as resnet_50_1x_1_pct.pkl, or None."""
    match = _FILE_NAME.search(os.path.basename(os.fspath(path)))
    if match is None:
        return None
    return int(match["depth"]), float(match["width"]), bool(match["sk"])


def check_file_name(path, arch):
    """CheckpointError if the file name names another architecture than the parameters."""
    said = name_says(path)
    if said is None:
        return
    depth, width, _ = said
    if depth != arch.depth or width != arch.width_multiplier:
        raise CheckpointError(
            f"{os.path.basename(path)!r}: its name says ResNet-{depth} {width:g}x but its "
            f"parameters are {arch.label} (blocks {'-'.join(map(str, arch.blocks_per_group))}, "
            f"{arch.feature_dim} features); rename the file, or pass check_name=False "
            "(--no-name-check) if the name is wrong.")

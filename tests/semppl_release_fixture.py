"""Stand-ins for the released SemPPL checkpoints, written without JAX, Haiku or dill.

`haiku_tree` builds the online network's Haiku trees with the module names
and shapes that the release's code gives them: ``ResNetTorso`` of
``utils/networks.py`` (google-deepmind/semppl) on Haiku 0.0.9's
``hk.nets.ResNet.BlockGroup`` / ``BlockV1`` (``haiku/_src/nets/resnet.py``),
Haiku's default module name for the encoder class (``ResNet50`` ->
``res_net50``), ``hk.BatchNorm``'s parameters shaped like its input with
ones on the reduced axes and its ``mean_ema`` / ``var_ema`` state, and BYOL's
``MLP`` heads ``projector`` / ``predictor`` plus a ``classifier`` linear.
`write_release_pickle` writes them in the release's container (a dict of
``experiment_state``, ``step``, ``rng``) as the byte stream a 2022 dill /
JAX 0.3.25 writer produces: every ndarray through
``dill._dill._create_array(numpy.core.multiarray._reconstruct, ...)``, the
rng a ``DeviceArray`` through ``jax._src.device_array.reconstruct_device_array``,
the optimizer state an optax class. Those names are written as GLOBAL
opcodes by hand, so none of those packages is needed.
"""

import pickle

import numpy as np

#: {name: (blocks per group, bottleneck)} of ``utils/networks.py``.
BLOCKS = {18: ((2, 2, 2, 2), False), 34: ((3, 4, 6, 3), False), 50: ((3, 4, 6, 3), True),
          101: ((3, 4, 23, 3), True), 152: ((3, 8, 36, 3), True), 200: ((3, 24, 36, 3), True)}
#: The release's plain checkpoints: file name -> (depth, width multiplier).
RELEASED = {
    "resnet_50_1x_1_pct.pkl": (50, 1), "resnet_50_1x_10_pct.pkl": (50, 1),
    "resnet_50_2x_1pct.pkl": (50, 2), "resnet_50_2x_10pct.pkl": (50, 2),
    "resnet_50_4x_1pct.pkl": (50, 4), "resnet_50_4x_10pct.pkl": (50, 4),
    "resnet_200_2x_1pct.pkl": (200, 2), "resnet_200_2x_10pct.pkl": (200, 2),
}


class _Values:
    """Draws the arrays: random (seeded), or zero-strided shapes without memory."""

    def __init__(self, seed, shapes_only=False):
        self.rng = np.random.default_rng(seed)
        self.shapes_only = shapes_only

    def _out(self, shape, draw):
        if self.shapes_only:
            return np.broadcast_to(np.float32(0), shape)
        return np.asarray(draw(), dtype=np.float32).reshape(shape)

    def conv(self, k, cin, cout):
        scale = np.sqrt(2.0 / (k * k * cin))
        return self._out((k, k, cin, cout), lambda: self.rng.normal(0, scale, (k, k, cin, cout)))

    def linear(self, din, dout):
        return self._out((din, dout), lambda: self.rng.normal(0, 1 / np.sqrt(din), (din, dout)))

    def uniform(self, shape, low, high):
        return self._out(shape, lambda: self.rng.uniform(low, high, shape))

    def normal(self, shape, std):
        return self._out(shape, lambda: self.rng.normal(0, std, shape))


def _batchnorm(values, params, state, name, shape, scale_range=(0.5, 1.0)):
    params[name] = {"scale": values.uniform(shape, *scale_range),
                    "offset": values.normal(shape, 0.1)}
    for ema, stat in (("mean_ema", values.normal(shape, 0.2)),
                      ("var_ema", values.uniform(shape, 0.5, 2.0))):
        state[f"{name}/~/{ema}"] = {"counter": np.asarray(1000, np.int32),
                                    "hidden": stat * 0.9, "average": stat}


def haiku_tree(depth, width, seed=0, shapes_only=False, heads=(64, 32), num_classes=10):
    """(online_params, online_state) of ``networks.ResNet{depth}(width_multiplier=width)``.

    Args:
        depth: a key of `BLOCKS`.
        width: the width multiplier; a fraction (e.g. 1/8) keeps the structure
            at fewer channels (64 * width must be a whole number).
        shapes_only: zero-strided arrays of the right shapes, no memory.
        heads: (hidden, output) sizes of the projector / predictor MLPs
            (the release: 4096, 256), or None for none.
    """
    values = _Values(seed, shapes_only)
    blocks, bottleneck = BLOCKS[depth]
    prefix = f"res_net{depth}"
    params, state = {}, {}
    stem = int(64 * width)
    assert stem == 64 * width, width
    params[f"{prefix}/~/initial_conv"] = {"w": values.conv(7, 3, stem)}
    _batchnorm(values, params, state, f"{prefix}/~/initial_batchnorm", (1, 1, 1, stem))
    channels_in = stem
    base = (256, 512, 1024, 2048) if bottleneck else (64, 128, 256, 512)
    for g, count in enumerate(blocks):
        out = int(base[g] * width)
        inner = out // 4 if bottleneck else out
        for b in range(count):
            block = f"{prefix}/~/block_group_{g}/~/block_{b}/~/"
            if b == 0:  # use_projection=True in every group
                params[block + "shortcut_conv"] = {"w": values.conv(1, channels_in, out)}
                _batchnorm(values, params, state, block + "shortcut_batchnorm", (1, 1, 1, out))
            if bottleneck:
                convs = [(1, channels_in, inner), (3, inner, inner), (1, inner, out)]
            else:
                convs = [(3, channels_in, out), (3, out, out)]
            for i, (k, cin, cout) in enumerate(convs):
                params[block + f"conv_{i}"] = {"w": values.conv(k, cin, cout)}
                last = i == len(convs) - 1
                _batchnorm(values, params, state, block + f"batchnorm_{i}", (1, 1, 1, cout),
                           scale_range=(0.1, 0.3) if last else (0.5, 1.0))
            channels_in = out
    if heads is not None:
        hidden, output = heads
        for name, din in (("projector", channels_in), ("predictor", output)):
            params[f"{name}/linear"] = {"w": values.linear(din, hidden),
                                        "b": values.normal((hidden,), 0.1)}
            _batchnorm(values, params, state, f"{name}/batch_norm", (1, hidden))
            params[f"{name}/linear_1"] = {"w": values.linear(hidden, output)}
        params["classifier"] = {"w": values.linear(channels_in, num_classes),
                                "b": values.normal((num_classes,), 0.1)}
    return params, state


# --- The 2022 byte stream --------------------------------------------------


class Global:
    """A ``module.name`` reference, written as a GLOBAL opcode (the module need not exist)."""

    def __init__(self, module, name):
        self.module, self.name = module, name

    def __call__(self, *args):  # pickle asks a reduce function to be callable
        raise TypeError("a reference only")


class Reduce:
    """An object pickled as ``func(*args)``, then ``BUILD state`` and the
    ``listitems`` / ``dictitems`` (iterators) where given."""

    def __init__(self, func, args, state=None, listitems=None, dictitems=None):
        self.func, self.args, self.state = func, args, state
        self.listitems, self.dictitems = listitems, dictitems

    def __reduce__(self):
        return (self.func, self.args, self.state, self.listitems, self.dictitems)


class _Writer(pickle._Pickler):
    def save(self, obj, save_persistent_id=True):
        if isinstance(obj, Global):
            self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode("utf-8"))
            return
        super().save(obj, save_persistent_id)


_RECONSTRUCT = Global("numpy.core.multiarray", "_reconstruct")
_NDARRAY = Global("numpy", "ndarray")


def dill_array(array):
    """An ndarray as dill 0.3.6 writes it: ``_create_array(_reconstruct, args, state, None)``."""
    state = np.ascontiguousarray(array).__reduce__()[2]
    return Reduce(Global("dill._dill", "_create_array"),
                  (_RECONSTRUCT, (_NDARRAY, (0,), b"b"), state, None))


def device_array(array):
    """A JAX 0.3.14-0.3.25 ``DeviceArray`` as it pickles itself."""
    state = np.ascontiguousarray(array).__reduce__()[2]
    return Reduce(Global("jax._src.device_array", "reconstruct_device_array"),
                  (_RECONSTRUCT, (_NDARRAY, (0,), b"b"), state,
                   {"weak_type": False, "named_shape": {}}))


def _encode_tree(tree, device_axis, flat_mapping):
    out = {}
    for module, values in tree.items():
        leaves = {}
        for name, value in values.items():
            value = np.asarray(value)
            if device_axis:
                value = value[None]
            leaves[name] = dill_array(value)
        out[module] = Reduce(Global("haiku._src.data_structures", "FlatMapping"), (leaves,)) \
            if flat_mapping else leaves
    return Reduce(Global("haiku._src.data_structures", "FlatMapping"), (out,)) \
        if flat_mapping else out


def write_release_pickle(path, params, state, step=500_000, device_axis=False,
                         flat_mapping=False):
    """Writes `haiku_tree`'s output in the release's container and 2022 byte stream.

    Args:
        device_axis: keep a leading device axis on every array (what the
            release's evaluation strips with ``get_first``).
        flat_mapping: wrap the trees in Haiku's old ``FlatMapping`` class.
    """
    container = {
        "experiment_state": {
            "online_params": _encode_tree(params, device_axis, flat_mapping),
            "online_state": _encode_tree(state, device_axis, flat_mapping),
            "opt_state": Reduce(Global("optax._src.transform", "ScaleByTraceState"),
                                ({"trace": dill_array(np.zeros(3, np.float32))},)),
        },
        "step": step,
        "rng": device_array(np.array([[0, 42]], np.uint32)),
    }
    with open(path, "wb") as f:
        _Writer(f, protocol=2).dump(container)
    return path


def write_pickle(path, obj):
    """Any object, with `Global` / `Reduce` references, as a protocol-2 stream."""
    with open(path, "wb") as f:
        _Writer(f, protocol=2).dump(obj)
    return path

"""The released SemPPL checkpoints: read one, build its Keras encoder and heads.

Container (``utils/checkpointing.py`` of google-deepmind/semppl, a dill
pickle): ``{"experiment_state": {"online_params": ..., "online_state": ...,
...}, "step": int, "rng": array}``, Haiku's two-level trees
``{module: {name: array}}``. The release's evaluation takes element 0 of
every array (``helpers.get_first``), i.e. the files may keep a leading
device axis; it is removed here when the stem's kernel has one (rank 5).
"""

import dataclasses
import os

import numpy as np

from keras_semppl.pretrained import haiku_resnet
from keras_semppl.pretrained.unpickle import CheckpointError
from keras_semppl.pretrained.unpickle import Skipped
from keras_semppl.pretrained.unpickle import load_restricted

_EXPECTED = ("expected a SemPPL checkpoint: a dict with 'experiment_state' (holding "
             "'online_params' and 'online_state'), 'step' and 'rng'")


@dataclasses.dataclass
class ReleasedCheckpoint:
    """What a released checkpoint holds, as NumPy.

    Attributes:
        path: the file read.
        architecture: the encoder's `haiku_resnet.Architecture`.
        params, state: the online network's Haiku trees (no device axis).
        heads: {name: `haiku_resnet.MLPHead`}: the online projector and
            predictor where the file holds them.
        step: the training step the file was written at (None if absent).
    """

    path: str
    architecture: haiku_resnet.Architecture
    params: dict
    state: dict
    heads: dict
    step: int | None

    def encoder(self, image_size=None, normalize=True, data_format=None, name=None):
        """The Keras encoder: images (B, H, W, 3) in [0, 1] -> features (B, F).

        Args:
            image_size: None (any size) or an int / (height, width) to fix
                the input to (what `semppl evaluate` resizes data to).
            normalize: start with `ImageNormalization` (ImageNet's mean and
                std, as the release's evaluation applies to its inputs);
                False: the encoder takes images already standardised.
            data_format: the layout inside the network (None: the
                package's default per backend); weights are the same.
            name: model name (default e.g. ``semppl_resnet50_1x``).
        """
        return build_encoder(self, image_size, normalize, data_format, name)

    def head(self, name):
        """The online head ``name`` (e.g. "projector") as a Keras model (B, D) -> (B, D')."""
        if name not in self.heads:
            raise CheckpointError(f"{self.path!r} holds no head {name!r}; it holds "
                                  f"{sorted(self.heads) or 'none'}.")
        return build_head(self.heads[name])


def _describe(obj):
    if isinstance(obj, Skipped):
        return f"an object of class {obj.origin} (not a mapping)"
    if isinstance(obj, dict):
        keys = sorted(map(str, obj))
        shown = ", ".join(repr(k) for k in keys[:8]) + (", ..." if len(keys) > 8 else "")
        return f"a dict with keys [{shown}]"
    if isinstance(obj, np.ndarray):
        return f"an array of shape {obj.shape}"
    return f"a {type(obj).__name__}"


def _mapping(obj):
    """``obj`` as a dict: a dict, or a placeholder of an unknown mapping class."""
    if isinstance(obj, dict):
        return obj
    return obj.as_mapping() if isinstance(obj, Skipped) else None


def _field(container, key):
    if _mapping(container) is not None:
        return _mapping(container).get(key)
    if isinstance(container, tuple) and hasattr(container, "_fields"):  # a namedtuple
        return getattr(container, key, None)
    return None


def _as_tree(tree, where):
    """A Haiku tree {module: {name: ndarray}}, checked."""
    if _mapping(tree) is None:
        raise CheckpointError(f"{where} is {_describe(tree)}; expected Haiku's "
                              "{module: {name: array}}.")
    out = {}
    for module, raw in _mapping(tree).items():
        values = _mapping(raw)
        if values is None:
            raise CheckpointError(f"{where}[{module!r}] is {_describe(raw)}; "
                                  "expected {name: array}.")
        out[str(module)] = {str(k): v for k, v in values.items()}
    return out


def _strip_device_axis(tree):
    return {m: {k: (np.asarray(v)[0] if isinstance(v, np.ndarray) and v.ndim else v)
                for k, v in values.items()} for m, values in tree.items()}


def read_checkpoint(path, check_name=True):
    """Reads a released SemPPL checkpoint without JAX, Haiku or dill.

    Args:
        path: the ``.pkl`` file (e.g. ``resnet_50_1x_1_pct.pkl``).
        check_name: when the file name names an architecture (the release's
            names do), refuse a file whose parameters are another one.

    Returns:
        `ReleasedCheckpoint`.

    Raises:
        CheckpointError (a ValueError): a missing, truncated, damaged or
            non-SemPPL file, an SK checkpoint, or a name that contradicts
            the parameters; the one-line message says what was found.
    """
    path = os.fspath(path)
    said = haiku_resnet.name_says(path)
    if said is not None and said[2]:
        raise CheckpointError(f"{os.path.basename(path)!r}: {haiku_resnet.SK_REFUSAL}")
    data = load_restricted(path)
    where = f"{path!r}"
    data = _mapping(data) if _mapping(data) is not None else data
    if not isinstance(data, dict) or "experiment_state" not in data:
        raise CheckpointError(f"{where} holds {_describe(data)}; {_EXPECTED}.")
    state = data["experiment_state"]
    params_tree, state_tree = _field(state, "online_params"), _field(state, "online_state")
    if params_tree is None or state_tree is None:
        raise CheckpointError(f"{where}: experiment_state is {_describe(state)}; {_EXPECTED}.")
    try:
        params = _as_tree(params_tree, "online_params")
        net_state = _as_tree(state_tree, "online_state")
        prefix = haiku_resnet.find_encoder_prefix(params)
        stem = params[prefix + "/~/initial_conv"].get("w")
        if not isinstance(stem, np.ndarray):
            raise CheckpointError(f"{prefix}/~/initial_conv/w is {_describe(stem)}; expected "
                                  "an array.")
        if stem.ndim == 5:  # saved with the device axis; the release's get_first drops it
            params, net_state = _strip_device_axis(params), _strip_device_axis(net_state)
        architecture = haiku_resnet.infer_architecture(params)
        if check_name:
            haiku_resnet.check_file_name(path, architecture)
        heads = haiku_resnet.mlp_heads(params, net_state)
        # Reading the statistics now reports a missing or misshapen one here.
        haiku_resnet.encoder_weights(params, net_state, architecture)
    except CheckpointError as error:
        message = str(error)
        if not message.startswith(where):
            message = f"{where}: {message}"
        raise CheckpointError(message) from None
    step = data.get("step")
    step = int(np.asarray(step).reshape(-1)[0]) \
        if isinstance(step, (int, np.integer, np.ndarray)) and np.size(step) else None
    return ReleasedCheckpoint(path, architecture, params, net_state, heads, step)


def load(path, image_size=None, normalize=True, data_format=None, check_name=True):
    """The Keras encoder of a released SemPPL checkpoint.

        encoder = keras_semppl.pretrained.load("resnet_50_1x_1_pct.pkl")
        features = encoder(images)   # (B, H, W, 3) in [0, 1] -> (B, 2048)

    Arguments as for `read_checkpoint` and `ReleasedCheckpoint.encoder`.
    """
    checkpoint = read_checkpoint(path, check_name=check_name)
    return checkpoint.encoder(image_size=image_size, normalize=normalize,
                              data_format=data_format)


def _size_pair(image_size):
    if image_size is None:
        return (None, None)
    if isinstance(image_size, int):
        return (image_size, image_size)
    pair = tuple(image_size)
    if len(pair) != 2 or not all(isinstance(v, int) and v > 0 for v in pair):
        raise ValueError(f"image_size must be None, an int or (height, width); got {image_size!r}.")
    return pair


def build_encoder(checkpoint, image_size=None, normalize=True, data_format=None, name=None):
    """`resnet_v1` with the checkpoint's architecture and weights (see `ReleasedCheckpoint`)."""
    from keras_semppl.encoders.resnet import resnet_v1
    from keras_semppl.layers.image_normalization import ImageNormalization

    arch = checkpoint.architecture
    depth = arch.depth if arch.depth else "".join(map(str, arch.blocks_per_group))
    model = resnet_v1(
        arch.blocks_per_group,
        block="bottleneck" if arch.bottleneck else "basic",
        input_shape=_size_pair(image_size) + (3,),
        stem="imagenet",
        width_multiplier=arch.width_multiplier,
        projection="first",
        preprocessing=ImageNormalization(name="imagenet_normalization") if normalize else None,
        zero_init_residual=False,
        bn_momentum=0.9,
        bn_epsilon=1e-5,
        name=name or f"semppl_resnet{depth}_{arch.width_label.replace('.', '_')}",
        data_format=data_format,
        kernel_initializer="zeros",  # every weight is set below
    )
    weights = haiku_resnet.encoder_weights(checkpoint.params, checkpoint.state, arch)
    for layer_name, values in weights.items():
        model.get_layer(layer_name).set_weights(values)
    missing = {layer.name for layer in model.layers if layer.weights} - set(weights)
    if missing:  # a layer the mapping does not fill would keep random weights
        raise RuntimeError(f"layers without checkpoint weights: {sorted(missing)[:5]}")
    return model


def build_head(head):
    """A `haiku_resnet.MLPHead` as a functional Keras model (B, D) -> (B, D')."""
    import keras

    from keras_semppl.layers.batch_norm import BatchNormalization

    inputs = keras.Input(shape=(head.input_dim,), name="features")
    x = keras.layers.Dense(head.hidden_w.shape[1], use_bias=True, kernel_initializer="zeros",
                           name="linear")(inputs)
    x = BatchNormalization(momentum=0.9, epsilon=1e-5, name="batch_norm")(x)
    x = keras.layers.ReLU(name="relu")(x)
    outputs = keras.layers.Dense(head.output_dim, use_bias=False, kernel_initializer="zeros",
                                 name="linear_1")(x)
    model = keras.Model(inputs, outputs, name=f"semppl_{head.name.replace('/', '_')}")
    model.get_layer("linear").set_weights([head.hidden_w, head.hidden_b])
    model.get_layer("batch_norm").set_weights(head.batchnorm)
    model.get_layer("linear_1").set_weights([head.output_w])
    return model

"""A restricted unpickler for 2022 JAX / Haiku checkpoints: arrays and containers only.

The released SemPPL checkpoints are `dill` pickles written by a JAX 0.3 /
Haiku 0.0.9 code base. Such a stream names a few callables to rebuild its
objects, and an ordinary `pickle.load` would import and call whatever it
names. This reader never imports a module the stream names: it resolves only
the names below, each to a small NumPy function of its own, and stands in a
`Skipped` placeholder for every other name (optimizer states, dill's
functions and classes, anything unexpected), which rebuilds nothing and runs
no code. What comes back is plain Python containers of NumPy arrays.

Names it rebuilds (what a 2022 stream of arrays can reference):

* NumPy: ``numpy.core.multiarray._reconstruct`` (``numpy._core`` under
  NumPy 2), ``numpy.ndarray``, ``numpy.dtype``, ``numpy.core.multiarray.scalar``,
  ``numpy.core.numeric._frombuffer`` and NumPy's scalar types;
* ``_codecs.encode`` (Python 3 writes bytes that way at protocol 2), and
  the plain built-in containers and numbers, ``collections.OrderedDict``;
* JAX arrays: ``jax._src.device_array.reconstruct_device_array`` (how a
  ``DeviceArray`` / ``ShardedDeviceArray`` pickles from JAX 0.3.14 on),
  ``jax._src.array._reconstruct_array`` (``jax.Array``, JAX 0.4); before
  0.3.14 a device array pickled as a plain ndarray;
* dill: ``dill._dill._create_array`` (how dill 0.3.6 writes every ndarray),
  ``_create_namedtuple`` and ``_create_dtypemeta``;
* Haiku: ``haiku._src.data_structures.FlatMapping`` / ``FlatMap`` /
  ``frozendict`` (older parameter containers) become dicts.

Sources: ``jax/_src/device_array.py`` and ``jax/_src/array.py`` (JAX
0.3.25), ``dill/_dill.py`` (dill 0.3.6), ``haiku/_src/data_structures.py``
(Haiku 0.0.9).
"""

import builtins
import codecs
import collections
import os
import pickle

import numpy as np

# The running NumPy's own rebuild functions (their module moved in NumPy 2).
_NP_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(0))[0]
_NP_SCALAR = np.float32(0).__reduce__()[0]

_BUILTINS = {
    name: getattr(builtins, name)
    for name in ("dict", "list", "tuple", "set", "frozenset", "int", "float", "complex",
                 "bool", "str", "bytes", "bytearray", "slice")
}


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read, or is not what was expected (one line)."""


class Skipped:
    """Stands in for an object whose class this reader does not rebuild.

    Holds what the stream gave it (``args``, ``state``, ``items``) as inert
    data; ``origin`` is the ``module.name`` the stream referenced.
    """

    origin = "?"

    def __new__(cls, *args, **kwargs):
        if not isinstance(cls, type):  # NEWOBJ on a placeholder that stood for a class
            cls = _placeholder(f"{cls.origin}(...)")
        obj = object.__new__(cls)
        obj.args, obj.state, obj.items = args, None, {}
        return obj

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):  # a placeholder used as a function
        return _placeholder(f"{self.origin}(...)")()

    def __setstate__(self, state):
        self.state = state

    def __setitem__(self, key, value):
        self.items[key] = value

    def append(self, value):
        self.items[len(self.items)] = value

    def extend(self, values):
        for value in values:
            self.append(value)

    def __repr__(self):
        return f"<{self.origin} (not rebuilt)>"

    def as_mapping(self):
        """The mapping this object carried, if any: what SETITEMS gave it, or a
        dict passed as its only argument (a dict subclass or mapping class of
        some other package); else None."""
        if self.items:
            return dict(self.items)
        if len(self.args) == 1 and isinstance(self.args[0], dict):
            return self.args[0]
        return None


_PLACEHOLDERS = {}


def _placeholder(origin):
    if origin not in _PLACEHOLDERS:
        _PLACEHOLDERS[origin] = type("Skipped", (Skipped,), {"origin": origin})
    return _PLACEHOLDERS[origin]


def _reconstruct(cls, shape, dtype_code):
    """numpy's ``_reconstruct``: an empty ndarray that BUILD then fills."""
    if cls is not np.ndarray:
        raise pickle.UnpicklingError(f"array of class {cls!r} (only numpy.ndarray is read)")
    return _NP_RECONSTRUCT(np.ndarray, shape, dtype_code)


def _frombuffer(buffer, dtype, shape, order):
    return np.frombuffer(buffer, dtype=dtype).reshape(shape, order=order).copy()


def _array_from_reduce(fun, args, state, *unused):
    """dill's ``_create_array`` and JAX's device-array rebuilders: an ndarray."""
    if fun is not _reconstruct:
        raise pickle.UnpicklingError(f"array rebuilt by {fun!r} (expected numpy's _reconstruct)")
    array = fun(*args)
    array.__setstate__(state)
    return array


def _encode(text, encoding="utf-8"):
    if codecs.lookup(encoding).name not in ("latin-1", "iso8859-1"):
        raise pickle.UnpicklingError(f"_codecs.encode with {encoding!r} (only latin1 is read)")
    return text.encode("latin-1")


def _mapping(data=(), **kwargs):
    return dict(data, **kwargs)


def _create_namedtuple(name, fieldnames, modulename=None, defaults=None):
    return collections.namedtuple(name, fieldnames, defaults=defaults)


def _create_dtypemeta(scalar_type=None):
    return np.dtype if scalar_type is None else type(np.dtype(scalar_type))


_ALLOWED = {
    ("_codecs", "encode"): _encode,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("dill._dill", "_create_array"): _array_from_reduce,
    ("dill._dill", "_create_namedtuple"): _create_namedtuple,
    ("dill._dill", "_create_dtypemeta"): _create_dtypemeta,
    ("jax._src.device_array", "reconstruct_device_array"): _array_from_reduce,
    ("jax._src.array", "_reconstruct_array"): _array_from_reduce,
}
for _module in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _ALLOWED[(_module, "_reconstruct")] = _reconstruct
    _ALLOWED[(_module, "scalar")] = _NP_SCALAR
for _module in ("numpy.core.numeric", "numpy._core.numeric"):
    _ALLOWED[(_module, "_frombuffer")] = _frombuffer
for _name in ("FlatMapping", "FlatMap", "frozendict"):
    _ALLOWED[("haiku._src.data_structures", _name)] = _mapping
for _module in ("builtins", "__builtin__"):
    for _name, _value in _BUILTINS.items():
        _ALLOWED[(_module, _name)] = _value


def _numpy_scalar_type(module, name):
    if module != "numpy":
        return None
    value = getattr(np, name, None)
    return value if isinstance(value, type) and issubclass(value, np.generic) else None


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        found = _ALLOWED.get((module, name)) or _numpy_scalar_type(module, name)
        return found if found is not None else _placeholder(f"{module}.{name}")

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("persistent references are not read")


def _describe_start(head):
    """What a file that is not a pickle looks like, from its first bytes."""
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive (a .keras or .npz file?)"
    if head.startswith(b"\x1f\x8b"):
        return "gzip-compressed data (decompress it first)"
    if head.startswith(b"\x89HDF"):
        return "an HDF5 file"
    if head.lstrip().startswith(b"<"):
        return "an XML/HTML page (an error page saved by a failed download?)"
    if head.lstrip().startswith((b"{", b"[")):
        return "JSON text"
    return f"bytes {head[:8]!r}"


def load_restricted(path, what="checkpoint"):
    """Unpickles ``path`` with the restricted reader above.

    Returns:
        The unpickled object: dicts, lists, tuples, numbers, strings and
        NumPy arrays, with `Skipped` placeholders for anything else.

    Raises:
        CheckpointError: the file is missing, empty, not a pickle, truncated
            or damaged (a one-line message naming the file and what it found).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError(f"{what} {path!r} does not exist.")
    if os.path.isdir(path):
        raise CheckpointError(f"{what} {path!r} is a folder; expected a .pkl file.")
    size = os.path.getsize(path)
    if size == 0:
        raise CheckpointError(f"{what} {path!r} is empty (0 bytes); expected a pickle.")
    with open(path, "rb") as f:
        head = f.read(16)
        f.seek(0)
        # Protocol 2+ streams (dill's, the release's) start with PROTO; an
        # older one with an opcode, never with these other formats' marks.
        not_pickle = CheckpointError(
            f"{what} {path!r} is not a pickle: it holds {_describe_start(head)}.")
        if not head.startswith(b"\x80") and not _describe_start(head).startswith("bytes"):
            raise not_pickle
        try:
            return _Unpickler(f).load()
        except (EOFError, pickle.UnpicklingError) as error:
            if not head.startswith(b"\x80"):
                raise not_pickle from None
            if isinstance(error, EOFError) or "truncated" in str(error):
                raise CheckpointError(
                    f"{what} {path!r} is truncated: its pickle stream ends after {size} bytes "
                    "without its end mark (an interrupted download?); download it again.") \
                    from None
            raise CheckpointError(f"{what} {path!r} is a damaged pickle ({error}).") from None
        except (ValueError, TypeError, AttributeError, IndexError, KeyError,
                MemoryError, OverflowError, RecursionError) as error:
            if not head.startswith(b"\x80"):
                raise not_pickle from None
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise CheckpointError(f"{what} {path!r} is a damaged pickle ({message}).") from None

"""What `SemPPL.fit` receives: its form, its checks, and its epoch length.

`prepare_fit_inputs` is the one entry the model calls. Labels must lie in
[-1, num_classes) and images be finite floats in [0, 1]: an out-of-range
label would silently give a wrong one-hot vote or an empty semantic-positive
set inside the compiled step, where no error can be raised, and a NaN pixel
can leave the loss finite while every weight turns NaN. So the data is
checked where it enters `fit`, in every batch form (dict, tuple or list; see
`keras_semppl.batch`): NumPy-like arrays at once, `tf.data` pipelines by an
assertion mapped over every element (it raises when the offending batch is
read, on every backend), Python generators, `keras.utils.PyDataset`s and
torch `DataLoader`s per batch as it is read.
"""

import sys
import types
import warnings

import numpy as np


def _message(num_classes, bad):
    return (
        f"labels must lie in [-1, num_classes) = [-1, {num_classes}) (-1 marks "
        f"an unlabelled example); found {bad}."
    )


def check_label_array(labels, num_classes):
    """Raises ValueError if a concrete label array has a value outside [-1, C)."""
    values = np.asarray(labels)
    if values.size == 0:
        return
    if not np.issubdtype(values.dtype, np.integer):
        if not np.all(np.equal(np.mod(values, 1), 0)):
            raise ValueError(f"labels must be integers; got dtype {values.dtype}.")
    bad = values[(values < -1) | (values >= num_classes)]
    if bad.size:
        raise ValueError(_message(num_classes, sorted(set(bad.tolist()))[:5]))


def _labels_of(element):
    if isinstance(element, dict):
        return element.get("labels")
    if isinstance(element, (tuple, list)) and len(element) >= 2:
        return element[-1]
    return None


def _views_of(element):
    """The image batches of a batch element, as (name, array) pairs."""
    if isinstance(element, dict):
        views = []
        for key in ("large_views", "small_views"):
            group = element.get(key)
            if group is None:
                continue
            group = group if isinstance(group, (list, tuple)) else (group,)
            views += [(f"{key}[{i}]", v) for i, v in enumerate(group)]
        return views
    if isinstance(element, (tuple, list)) and len(element) >= 2:
        if len(element) == 2 and isinstance(element[0], (list, tuple)):
            group = element[0]
        else:
            group = element[:-1]
        return [(f"view {i}", v) for i, v in enumerate(group)]
    return []


# Augmentations (resizing, colour jitter) may overshoot [0, 1] by rounding.
_SLACK = 1e-3


def check_image_array(images, name="images"):
    """Raises ValueError unless ``images`` are finite floats in [0, 1].

    The message names ``name``, and for NaN or inf pixels gives their count
    and the index (first axis: the example) of the first.
    """
    values = np.asarray(images)
    if not np.issubdtype(values.dtype, np.floating):
        hint = " (divide uint8 images by 255)" if values.dtype == np.uint8 else ""
        raise ValueError(
            f"{name} must be floats in [0, 1]; got dtype {values.dtype}{hint}.")
    if values.size == 0:
        return
    finite = np.isfinite(values)
    if not finite.all():
        bad = np.argwhere(~finite)
        raise ValueError(
            f"{name} holds {len(bad)} NaN or inf pixel value(s); the first is in example "
            f"{int(bad[0][0])} at index {tuple(int(i) for i in bad[0])}.")
    low, high = float(values.min()), float(values.max())
    if low < -_SLACK or high > 1.0 + _SLACK:
        raise ValueError(f"{name} must lie in [0, 1]; got range [{low}, {high}].")


def check_element(element, num_classes):
    """Checks one concrete batch (or a whole in-memory data set): labels, images."""
    labels = _labels_of(element)
    if labels is not None and hasattr(labels, "shape"):
        check_label_array(_to_numpy(labels), num_classes)
    for name, view in _views_of(element):
        if hasattr(view, "shape"):
            check_image_array(_to_numpy(view), name)


def _stream_image_check(tf, name, view):
    """A tensor that is computed only if ``view`` is finite and in [0, 1].

    A few elementwise passes and reductions per batch. No `tf.cond`: an
    assertion inside one makes TensorFlow's graph optimizer log "Skipping
    loop optimization" each time the pipeline starts (twice per epoch).
    """
    bad = tf.logical_not(tf.math.is_finite(view))
    count = tf.reduce_sum(tf.cast(bad, tf.int64))
    first = tf.argmax(tf.cast(tf.reduce_any(tf.reshape(bad, [tf.shape(view)[0], -1]), 1),
                              tf.int32))
    finite = tf.debugging.Assert(tf.equal(count, 0), [
        f"{name} holds NaN or inf pixel values; their count and the first "
        "example in the batch:", count, first])
    low, high = tf.reduce_min(view), tf.reduce_max(view)
    with tf.control_dependencies([finite]):
        in_range = tf.debugging.Assert(
            (low >= -_SLACK) & (high <= 1 + _SLACK),
            [f"{name} must lie in [0, 1]; got min and max:", low, high])
    return in_range


def _stream_integer_labels(tf, labels):
    """``labels`` as int64, computed only once float labels are known to be whole.

    As `check_label_array` does for arrays, before the cast: casting 0.5 or
    NaN to an integer would hide it (0, or an arbitrary value).
    """
    if not labels.dtype.is_floating:
        return tf.cast(labels, tf.int64)
    whole = tf.reduce_all(tf.equal(labels, tf.math.floor(labels)))  # False for NaN, inf
    check = tf.debugging.Assert(whole, [
        f"labels must be integers; got dtype {labels.dtype.name} with non-integer "
        "values:", labels])
    with tf.control_dependencies([check]):
        return tf.cast(tf.identity(labels), tf.int64)


def _guard_dataset(dataset, num_classes):
    import tensorflow as tf

    def check(*element):
        element = element[0] if len(element) == 1 else element
        labels = _labels_of(element)
        if labels is None:
            return element
        labels = _stream_integer_labels(tf, labels)
        ok = tf.reduce_all((labels >= -1) & (labels < num_classes))
        checks = [tf.debugging.Assert(ok, [_message(num_classes, "out-of-range values"), labels])]
        for name, view in _views_of(element):
            if not view.dtype.is_floating:
                raise ValueError(f"{name} must be floats in [0, 1]; got dtype "
                                 f"{view.dtype.name} (divide uint8 images by 255).")
            checks.append(_stream_image_check(tf, name, view))
        with tf.control_dependencies(checks):
            if isinstance(element, dict):
                return {k: tf.identity(v) if k == "labels" else v for k, v in element.items()}
            return tuple(element[:-1]) + (tf.identity(element[-1]),)

    return dataset.map(check)


def _torch_data():
    """`torch.utils.data` if it is already imported, else None: a DataLoader
    can only exist once it is, and importing torch just to rule one out cost
    seconds on the other backends."""
    return sys.modules.get("torch.utils.data")


def _guard_generator(generator, num_classes):
    for element in generator:
        check_element(element, num_classes)
        yield element


class _CheckedCollate:
    """A torch DataLoader collate_fn that checks each collated batch's labels."""

    def __init__(self, collate_fn, num_classes):
        self.collate_fn = collate_fn
        self.num_classes = num_classes

    def __call__(self, samples):
        batch = self.collate_fn(samples)
        check_element(batch, self.num_classes)
        return batch


def _to_numpy(labels):
    return labels.numpy() if hasattr(labels, "numpy") and not isinstance(labels, np.ndarray) else labels


def _guard_torch_loader(loader, num_classes):
    # collate_fn may be replaced after construction (batch_size and sampler may
    # not); the check runs where batches are made, workers included.
    if not isinstance(loader.collate_fn, _CheckedCollate):
        loader.collate_fn = _CheckedCollate(loader.collate_fn, num_classes)
    return loader


def _guarded_py_dataset(dataset, num_classes):
    import keras

    class CheckedPyDataset(keras.utils.PyDataset):
        """The user's PyDataset, every batch's labels checked when read."""

        def __init__(self):
            # (A subclass that skipped PyDataset.__init__ has no settings.)
            super().__init__(workers=getattr(dataset, "workers", 1),
                             use_multiprocessing=getattr(dataset, "use_multiprocessing", False),
                             max_queue_size=getattr(dataset, "max_queue_size", 10))

        def __len__(self):
            return len(dataset)

        @property
        def num_batches(self):
            return dataset.num_batches

        def __getitem__(self, index):
            element = dataset[index]
            check_element(element, num_classes)
            return element

        def on_epoch_end(self):
            dataset.on_epoch_end()

    return CheckedPyDataset()


def _is_array(value):
    return isinstance(value, np.ndarray) or (
        hasattr(value, "shape") and hasattr(value, "__array__")
        and not hasattr(value, "_keras_history"))


def _in_memory(x, y):
    """``x`` and ``y`` as one batch-like element when every part is an array, else None."""
    if isinstance(x, dict):
        parts = list(x.values())
        flat = []
        for part in parts:
            flat += list(part) if isinstance(part, (list, tuple)) else [part]
        return (dict(x) if y is None else None) if flat and all(map(_is_array, flat)) else None
    if isinstance(x, (list, tuple)):
        flat = [v for part in x for v in (part if isinstance(part, (list, tuple)) else [part])]
        if not flat or not all(map(_is_array, flat)):
            return None
        return tuple(x) if y is None else (tuple(x), y)
    if _is_array(x) and y is not None and _is_array(y):
        return ((x,), y)
    return None


def is_in_memory(x, y):
    """True when ``fit(x, y)`` receives arrays only (dict, tuple or list forms, or x with y)."""
    return _in_memory(x, y) is not None


def guard_labels(x, y, num_classes):
    """Returns ``(x, y)`` with label and image checks applied where the data allows.

    In-memory arrays (dict, tuple or list forms, or ``x`` with ``y``) are
    checked at once; streams get a check on every batch as it is read.
    """
    element = _in_memory(x, y)
    if element is not None:
        check_element(element, num_classes)
        return x, y
    if y is not None and hasattr(y, "shape"):
        check_label_array(y, num_classes)
        return x, y
    if isinstance(x, types.GeneratorType):
        return _guard_generator(x, num_classes), y
    import keras

    if isinstance(x, keras.utils.PyDataset):
        return _guarded_py_dataset(x, num_classes), y
    torch_data = _torch_data()
    if torch_data is not None and isinstance(x, torch_data.DataLoader):
        return _guard_torch_loader(x, num_classes), y
    try:
        import tensorflow as tf
    except ImportError:  # pragma: no cover - tensorflow is a core dependency
        return x, y
    if isinstance(x, tf.data.Dataset):
        return _guard_dataset(x, num_classes), y
    return x, y


def drop_remainder(x, y, batch_size):
    """In-memory inputs cut to a multiple of the batch size, with a warning.

    SemPPL needs every batch to have the same, static size (the negatives
    are drawn within the batch); Keras' array adapter would end each epoch
    with a smaller batch. The last ``N mod batch_size`` examples (in the
    given order) are dropped; fewer than one batch (none included) is a
    ValueError, the same on every backend. Streams (tf.data, generators) are
    returned as they are.
    """
    element = _in_memory(x, y)
    if element is None:
        return x, y
    size = 32 if batch_size is None else int(batch_size)
    lengths = {len(v) for v in _flat_arrays(x) + ([] if y is None else [y])}
    if len(lengths) != 1:
        return x, y  # Keras reports mismatched lengths itself
    n = lengths.pop()
    keep = n - n % size
    if keep == 0:  # also n == 0, which each backend's fit would fail on its own way
        raise ValueError(f"fit received {n} examples; SemPPL needs at least one full batch "
                         f"(batch_size={size}).")
    if keep == n:
        return x, y
    warnings.warn(
        f"SemPPL needs equal-sized batches: of the {n} examples, the last {n - keep} "
        f"(beyond {keep // size} full batches of {size}) are dropped. Pass a multiple "
        "of batch_size to train on every example.", stacklevel=3)
    return _cut(x, keep), (None if y is None else y[:keep])


def _flat_arrays(x):
    if isinstance(x, dict):
        x = list(x.values())
    if isinstance(x, (list, tuple)):
        return [v for part in x for v in _flat_arrays(part)]
    return [x]


def _cut(x, n):
    if isinstance(x, dict):
        return {k: _cut(v, n) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_cut(v, n) for v in x)
    return x[:n]


def prepare_fit_inputs(x, y, batch_size, num_classes, fit_kwargs):
    """The inputs of ``SemPPL.fit(x, y, batch_size, **fit_kwargs)``, checked.

    Returns:
        ``(x, y, fit_kwargs, steps_per_epoch)``: the inputs with their checks
        applied (`guard_labels`) and cut to full batches (`drop_remainder`);
        ``fit_kwargs`` with ``shuffle=False`` by default for data that
        shuffles itself (streams; Keras shuffles arrays); and the optimizer
        steps in one epoch, or None when the data does not say.
    """
    x, y = guard_labels(x, y, num_classes)
    x, y = drop_remainder(x, y, batch_size)
    in_memory = _in_memory(x, y) is not None
    if "shuffle" not in fit_kwargs and not in_memory:
        fit_kwargs = dict(fit_kwargs, shuffle=False)
    return x, y, fit_kwargs, _steps_per_epoch(x, y, in_memory, batch_size, fit_kwargs)


def _steps_per_epoch(x, y, in_memory, batch_size, fit_kwargs):
    """Optimizer steps in one epoch of ``fit(x, ...)``, or None when unknown."""
    if fit_kwargs.get("steps_per_epoch"):
        return int(fit_kwargs["steps_per_epoch"])
    if in_memory:
        rows = len(_flat_arrays(x)[0])
        rows -= int(rows * (fit_kwargs.get("validation_split") or 0.0))
        return max(1, -(-rows // (batch_size or 32)))
    cardinality = getattr(x, "cardinality", None)
    if callable(cardinality):  # tf.data.Dataset
        count = int(cardinality())
        return count if count > 0 else None
    try:  # keras.utils.PyDataset, torch DataLoader
        return len(x) or None
    except TypeError:
        return None

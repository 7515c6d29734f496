"""Checks that the labels `fit` receives lie in [-1, num_classes).

An out-of-range label would silently give a wrong one-hot vote or an empty
semantic-positive set inside the compiled step, where no error can be raised.
So labels are checked where the data enters `fit`: NumPy-like arrays at once,
`tf.data` pipelines by an assertion mapped over every element (it raises when
the offending batch is read, on every backend), Python generators,
`keras.utils.PyDataset`s and torch `DataLoader`s per batch as it is read.
"""

import types

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


def _guard_dataset(dataset, num_classes):
    import tensorflow as tf

    def check(*element):
        element = element[0] if len(element) == 1 else element
        labels = _labels_of(element)
        if labels is None:
            return element
        labels = tf.cast(labels, tf.int64)
        ok = tf.reduce_all((labels >= -1) & (labels < num_classes))
        with tf.control_dependencies(
            [tf.debugging.Assert(ok, [_message(num_classes, "out-of-range values"), labels])]
        ):
            if isinstance(element, dict):
                return {k: tf.identity(v) if k == "labels" else v for k, v in element.items()}
            return tuple(element[:-1]) + (tf.identity(element[-1]),)

    return dataset.map(check)


def _torch_data():
    try:
        import torch.utils.data as torch_data
    except ImportError:  # torch is optional outside the torch backend
        return None
    return torch_data


def _guard_generator(generator, num_classes):
    for element in generator:
        labels = _labels_of(element)
        if labels is not None:
            check_label_array(labels, num_classes)
        yield element


class _CheckedCollate:
    """A torch DataLoader collate_fn that checks each collated batch's labels."""

    def __init__(self, collate_fn, num_classes):
        self.collate_fn = collate_fn
        self.num_classes = num_classes

    def __call__(self, samples):
        batch = self.collate_fn(samples)
        labels = _labels_of(batch)
        if labels is not None:
            check_label_array(_to_numpy(labels), self.num_classes)
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
            labels = _labels_of(element)
            if labels is not None:
                check_label_array(_to_numpy(labels), num_classes)
            return element

        def on_epoch_end(self):
            dataset.on_epoch_end()

    return CheckedPyDataset()


def guard_labels(x, y, num_classes):
    """Returns ``(x, y)`` with label checks applied where the data allows."""
    if y is not None and hasattr(y, "shape"):
        check_label_array(y, num_classes)
        return x, y
    if isinstance(x, dict) and "labels" in x and not hasattr(x["labels"], "_keras_history"):
        if isinstance(x["labels"], np.ndarray) or hasattr(x["labels"], "__array__"):
            check_label_array(x["labels"], num_classes)
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

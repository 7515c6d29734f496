"""One process' share of every global batch (data parallel over processes).

Replica r of R reads rows [r B/R, (r+1) B/R) of each global batch of B
examples: the rows that `keras_semppl.distribute.replicas.this_replica_rows`
and `all_gather` assume. Every process builds the same globally batched
input (same data, same seeds) and keeps its rows, so the R shards of a step
are exactly the batch one process would train on.

    shard_dataset(dataset, r, R)                  # tf.data, batches of B
    shard_arrays(x, y, B, r, R) -> (x, y, B / R)  # NumPy, batch_size B
"""

import numpy as np


def check_divisible(global_batch_size, count):
    """ValueError unless a global batch splits into ``count`` equal shares."""
    if global_batch_size % count:
        raise ValueError(
            f"The global batch size {global_batch_size} must be a multiple of the "
            f"{count} processes (each trains on {global_batch_size} / {count} examples "
            "of every batch).")


def shard_dataset(dataset, index, count):
    """A `tf.data.Dataset` of global batches -> this process' rows of each.

    Args:
        dataset: elements are (nests of) tensors of shape (B, ...), B static
            (batch with ``drop_remainder=True``).
        index: this process' rank r; count: R.

    Returns:
        The dataset with (B / R, ...) elements.

    Raises:
        ValueError: B is not static, differs between tensors, or is not a
            multiple of R.
    """
    import tensorflow as tf

    sizes = {spec.shape[0] if spec.shape.rank else None
             for spec in tf.nest.flatten(dataset.element_spec)}
    if len(sizes) != 1 or None in sizes:
        raise ValueError(
            "Data-parallel training needs batches of one static size (batch the dataset "
            f"with drop_remainder=True); the batch dimensions are {sorted(map(str, sizes))}.")
    size = sizes.pop()
    check_divisible(size, count)
    rows = size // count

    def rows_of(*element):
        element = element[0] if len(element) == 1 else element
        return tf.nest.map_structure(lambda t: t[index * rows:(index + 1) * rows], element)

    return dataset.map(rows_of)


def shard_arrays(x, y, batch_size, index, count):
    """In-memory inputs of ``fit(x, y, batch_size=B)`` -> this process' rows.

    The arrays are cut into global batches of B in their given order (a
    last partial batch is dropped); this process keeps rows
    [r B/R, (r+1) B/R) of each. With ``shuffle=False`` the global batches are
    the ones a single process would see; with shuffling, each process
    shuffles its own rows.

    Args:
        x: an array, or a dict / tuple / list nesting arrays of N rows.
        y: an array of N rows, or None.
        batch_size: B, the global batch size (None: Keras' default of 32).

    Returns:
        ``(x, y, B / R)`` with N // B * B / R rows each.
    """
    batch_size = 32 if batch_size is None else int(batch_size)
    check_divisible(batch_size, count)
    rows = batch_size // count
    n = len(_first_array(x))
    starts = np.arange(n // batch_size) * batch_size + index * rows
    keep = (starts[:, None] + np.arange(rows)[None, :]).reshape(-1)
    return _take(x, keep), (None if y is None else _take(y, keep)), rows


def _first_array(x):
    if isinstance(x, dict):
        return _first_array(next(iter(x.values())))
    if isinstance(x, (list, tuple)):
        return _first_array(x[0])
    return x


def _take(x, keep):
    if isinstance(x, dict):
        return {k: _take(v, keep) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_take(v, keep) for v in x)
    return np.asarray(x)[keep]

"""Each process' share of the global batches, against a loop over the batches."""

import numpy as np
import pytest

from keras_semppl.data.global_batches import shard_arrays
from keras_semppl.data.global_batches import shard_dataset


def _expected_rows(n, batch, index, count):
    """Row indices of process ``index``: a plain loop over the global batches."""
    rows, share = [], batch // count
    for start in range(0, n - batch + 1, batch):
        rows += list(range(start + index * share, start + (index + 1) * share))
    return rows


@pytest.mark.backend_free
@pytest.mark.parametrize("count", [1, 2, 4])
def test_arrays_give_each_process_its_rows_of_every_batch(count):
    n, batch = 21, 8  # the last 5 rows are not a full batch
    x = {"large_views": (np.arange(n * 2.0).reshape(n, 2), -np.arange(n * 2.0).reshape(n, 2)),
         "labels": np.arange(n)}
    y = np.arange(n) * 10
    shards = [shard_arrays(x, y, batch, i, count) for i in range(count)]
    for i, (xs, ys, local) in enumerate(shards):
        rows = _expected_rows(n, batch, i, count)
        assert local == batch // count
        np.testing.assert_array_equal(xs["labels"], rows)
        np.testing.assert_array_equal(xs["large_views"][1], -x["large_views"][0][rows])
        np.testing.assert_array_equal(ys, np.array(rows) * 10)
    # Together, batch k of every process is global batch k.
    merged = np.concatenate([s[0]["labels"].reshape(-1, batch // count) for s in shards], 1)
    np.testing.assert_array_equal(merged.reshape(-1), np.arange(16))


@pytest.mark.backend_free
def test_dataset_gives_each_process_its_rows_of_every_batch():
    import tensorflow as tf

    n, batch, count = 24, 6, 3
    data = tf.data.Dataset.from_tensor_slices(
        {"large_views": (np.arange(n * 4.0).reshape(n, 2, 2),), "labels": np.arange(n)}
    ).batch(batch, drop_remainder=True)
    for i in range(count):
        got = [e["labels"].numpy() for e in shard_dataset(data, i, count)]
        np.testing.assert_array_equal(np.concatenate(got), _expected_rows(n, batch, i, count))
        assert shard_dataset(data, i, count).element_spec["labels"].shape.as_list() == [2]


@pytest.mark.backend_free
def test_uneven_or_dynamic_batches_are_refused_with_the_sizes():
    import tensorflow as tf

    with pytest.raises(ValueError, match="global batch size 10 must be a multiple of the 4 "
                                         "processes"):
        shard_arrays(np.zeros((20, 1)), None, 10, 0, 4)
    ragged = tf.data.Dataset.from_tensor_slices(np.zeros((10, 1))).batch(4)
    with pytest.raises(ValueError, match="drop_remainder=True"):
        shard_dataset(ragged, 0, 2)
    even = tf.data.Dataset.from_tensor_slices(np.zeros((12, 1))).batch(6, drop_remainder=True)
    with pytest.raises(ValueError, match="global batch size 6 must be a multiple of the 4"):
        shard_dataset(even, 0, 4)

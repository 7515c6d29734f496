"""EmbeddingQueue: FIFO order, wrap-around, validity, per-view queues."""

import numpy as np
import pytest
from keras import ops

from keras_semppl.layers import EmbeddingQueue


def _np(x):
    return ops.convert_to_numpy(x)


def _write(queue, labels, ids=None, views=None, dim=3):
    labels = np.asarray(labels, "int32")
    b = len(labels)
    ids = np.arange(b, dtype="int32") if ids is None else np.asarray(ids, "int32")
    if views is None:
        # View v of row i holds the value 10 * v + id in every coordinate.
        views = np.stack([np.repeat((10 * v + ids)[:, None], dim, 1) for v in range(queue.num_views)])
    queue.enqueue(views.astype("float32"), labels, ids, labels >= 0)


def test_starts_empty_with_unit_norm_embeddings():
    q = EmbeddingQueue(num_views=2, size=7, dim=5)
    assert not _np(q.valid_mask()).any()
    np.testing.assert_allclose(np.linalg.norm(_np(q.embeddings.value), axis=-1), 1.0, rtol=1e-5)
    assert int(_np(q.pointer.value)) == 0


def test_fifo_order_only_labelled_rows_and_wrap_around():
    q = EmbeddingQueue(num_views=2, size=5, dim=3)
    _write(q, [1, -1, 2, 0], ids=[0, 1, 2, 3])  # writes ids 0, 2, 3 to slots 0..2
    np.testing.assert_array_equal(_np(q.ids.value), [0, 2, 3, -1, -1])
    np.testing.assert_array_equal(_np(q.labels.value), [1, 2, 0, -1, -1])
    np.testing.assert_array_equal(_np(q.valid_mask()), [1, 1, 1, 0, 0])
    assert int(_np(q.pointer.value)) == 3
    _write(q, [4, 4, -1, 3], ids=[10, 11, 12, 13])  # ids 10, 11, 13 -> slots 3, 4, 0
    np.testing.assert_array_equal(_np(q.ids.value), [13, 2, 3, 10, 11])
    np.testing.assert_array_equal(_np(q.labels.value), [3, 2, 0, 4, 4])
    assert int(_np(q.pointer.value)) == 1
    emb = _np(q.embeddings.value)
    # Per-view queues: slot s of view v holds 10 * v + id of the same example.
    for v in range(2):
        np.testing.assert_allclose(emb[v, :, 0], 10 * v + np.array([13, 2, 3, 10, 11]))


def test_untouched_slots_keep_their_values_and_unlabelled_batch_writes_nothing():
    q = EmbeddingQueue(num_views=1, size=4, dim=3)
    before = _np(q.embeddings.value).copy()
    _write(q, [-1, -1, -1])
    np.testing.assert_array_equal(_np(q.embeddings.value), before)
    assert int(_np(q.pointer.value)) == 0
    _write(q, [0], ids=[7])
    np.testing.assert_array_equal(_np(q.embeddings.value)[0, 1:], before[0, 1:])


def test_queue_smaller_than_a_batch_is_an_error():
    q = EmbeddingQueue(num_views=1, size=3, dim=2)
    with pytest.raises(ValueError, match="queue.*size=3.*smaller"):
        _write(q, [0, 1, 0, 1], dim=2)


@pytest.mark.parametrize("arg", ["num_views", "size", "dim"])
def test_bad_sizes_are_errors(arg):
    kwargs = dict(num_views=1, size=4, dim=2)
    kwargs[arg] = 0
    with pytest.raises(ValueError, match=arg):
        EmbeddingQueue(**kwargs)

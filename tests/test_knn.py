"""KNNPseudoLabeler and the samplers against hand-computed cases and NumPy loops."""

import numpy as np
import pytest
from keras import ops

from keras_semppl.layers import KNNPseudoLabeler, SemanticPositiveSampler, sample_negative_indices
from tests import numpy_reference as ref


def _np(x):
    return ops.convert_to_numpy(x)


def _e(*angles):
    """Unit vectors in 2-D at the given angles (degrees)."""
    a = np.deg2rad(np.array(angles, "float32"))
    return np.stack([np.cos(a), np.sin(a)], -1).astype("float32")


def test_votes_over_views_and_queues_hand_computed():
    knn = KNNPseudoLabeler(num_classes=3, k=1)
    keys = np.stack([_e(0, 90, 180), _e(0, 90, 180)])  # 2 queues, labels 0 1 2
    labels = np.array([0, 1, 2], "int32")
    ids = np.array([5, 6, 7], "int32")
    # View 0 of the query is near class 1 (90 deg), view 1 near class 1 too.
    queries = np.stack([_e(80), _e(100)])
    out, conf = knn(queries, keys, labels, ids, np.array([-1], "int32"))
    assert _np(out).tolist() == [1] and float(_np(conf)[0]) == 1.0


def test_tie_goes_to_larger_similarity_sum():
    knn = KNNPseudoLabeler(num_classes=2, k=1)
    keys = np.stack([_e(0, 90)])
    labels = np.array([0, 1], "int32")
    # View 0 votes class 0 at 10 deg, view 1 votes class 1 at 40 deg: 1-1 tie,
    # class 0's vote is more similar.
    queries = np.stack([_e(10), _e(50)])
    out, conf = knn(queries, keys, labels, np.array([0, 1], "int32"), np.array([-1], "int32"))
    assert _np(out).tolist() == [0] and float(_np(conf)[0]) == 0.5


def test_self_match_excluded_and_empty_queue_gives_minus_one():
    knn = KNNPseudoLabeler(num_classes=2, k=1)
    keys = np.stack([_e(0, 30)])
    labels = np.array([0, 1], "int32")
    ids = np.array([42, 43], "int32")
    # The query is example 42, identical to slot 0; its own entry must not vote.
    out, _ = knn(np.stack([_e(0)]), keys, labels, ids, np.array([42], "int32"))
    assert _np(out).tolist() == [1]
    empty, conf = knn(np.stack([_e(0)]), keys, np.array([-1, -1], "int32"), ids, np.array([-1], "int32"))
    assert _np(empty).tolist() == [-1] and float(_np(conf)[0]) == 0.0


def test_k_larger_than_valid_entries_uses_only_valid_ones():
    knn = KNNPseudoLabeler(num_classes=3, k=3)
    keys = np.stack([_e(0, 90, 180, 270)])
    labels = np.array([2, -1, -1, -1], "int32")  # one valid entry
    out, conf = knn(np.stack([_e(200)]), keys, labels, np.arange(4, dtype="int32"), np.array([-1], "int32"))
    assert _np(out).tolist() == [2] and float(_np(conf)[0]) == 1.0


def test_k_larger_than_queue_is_an_error():
    knn = KNNPseudoLabeler(num_classes=2, k=5)
    with pytest.raises(ValueError, match="knn_k=5.*larger than the queue"):
        knn(np.stack([_e(0)]), np.stack([_e(0, 1)]), np.array([0, 1], "int32"),
            np.array([0, 1], "int32"), np.array([-1], "int32"))


@pytest.mark.parametrize("k", [1, 3])
def test_matches_numpy_reference_on_random_inputs(k):
    rng = np.random.default_rng(k)
    C, Q, B, D = 4, 20, 9, 6
    queries = ref.unit(rng.normal(size=(2, B, D))).astype("float32")
    keys = ref.unit(rng.normal(size=(3, Q, D))).astype("float32")
    labels = rng.integers(-1, C, size=Q).astype("int32")
    key_ids = rng.integers(0, 12, size=Q).astype("int32")
    query_ids = rng.integers(-1, 12, size=B).astype("int32")
    out, _ = KNNPseudoLabeler(C, k)(queries, keys, labels, key_ids, query_ids)
    expected = ref.knn_vote(queries, keys, labels, key_ids, query_ids, k, C)
    np.testing.assert_array_equal(_np(out), expected)


def test_negative_indices_are_distinct_and_never_self():
    idx = _np(sample_negative_indices(8, 7, seed=3))
    for b, row in enumerate(idx):
        assert b not in row and len(set(row.tolist())) == 7
    with pytest.raises(ValueError, match="num_negatives=8"):
        sample_negative_indices(8, 8, seed=0)


def test_semantic_positives_share_the_label_exclude_self_and_mask_missing():
    sampler = SemanticPositiveSampler(num_positives=2, seed=0)
    key_labels = np.array([0, 1, 0, 1, 1, -1], "int32")
    key_ids = np.array([10, 11, 12, 13, 14, 15], "int32")
    anchors = np.array([0, 1, 2, -1, 0], "int32")
    anchor_ids = np.array([10, 3, 4, 5, -1], "int32")
    for _ in range(5):
        slots, mask = (_np(t) for t in sampler(key_labels, key_ids, anchors, anchor_ids))
        # Anchor 0 (label 0, id 10): only slot 2 qualifies (slot 0 is itself).
        assert mask[0].tolist() == [True, False] and slots[0][0] == 2
        # Anchor 1 (label 1): two distinct of slots 1, 3, 4.
        assert mask[1].all() and set(slots[1]) <= {1, 3, 4} and slots[1][0] != slots[1][1]
        # Label 2 has no entry; -1 has no label: masked out.
        assert not mask[2].any() and not mask[3].any()
        assert mask[4].all() and set(slots[4]) == {0, 2}


@pytest.mark.backend_free
def test_held_out_knn_k_is_the_rule_of_train_and_evaluate():
    from keras_semppl.evaluation.knn_rule import describe_knn_k
    from keras_semppl.evaluation.knn_rule import held_out_knn_k

    labels = np.array([0] * 14 + [1] * 30 + [-1] * 50)  # rarest class: 14 labels
    assert held_out_knn_k(labels) == 14
    assert held_out_knn_k(labels, k=5) == 5
    assert held_out_knn_k(np.array([0] * 30 + [1] * 25)) == 20
    assert describe_knn_k(labels) == (
        "k-NN: k=14 (at most 20, clipped to the 14 labels of the rarest class)")
    assert describe_knn_k(labels, k=5) == "k-NN: k=5 (every class has at least 5 labels)"
    with pytest.raises(ValueError, match="label"):
        held_out_knn_k(np.array([-1, -1]))

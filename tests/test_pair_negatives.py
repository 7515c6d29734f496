"""Per-pair negative draws: never the anchor, distinct, symmetric, uniform."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_semppl.layers.positive_sampler import sample_pair_negative_indices


def test_rows_never_hold_themselves_and_are_distinct_and_symmetric():
    seed = keras.random.SeedGenerator(3)
    idx = ops.convert_to_numpy(sample_pair_negative_indices(5, 3, 12, 6, seed))
    assert idx.shape == (5, 3, 12, 6)
    rows = np.arange(12)[None, None, :, None]
    assert not np.any(idx == rows)
    assert np.all(np.sort(idx, -1)[..., 1:] != np.sort(idx, -1)[..., :-1])
    for i in range(3):
        for j in range(3):
            np.testing.assert_array_equal(idx[i, j], idx[j, i])
    # Different pairs get different draws.
    assert not np.array_equal(idx[0, 1], idx[0, 2])
    assert not np.array_equal(idx[3, 0], idx[4, 0])


def test_each_example_sees_a_uniform_draw_of_the_others():
    seed = keras.random.SeedGenerator(0)
    batch, negatives, draws = 8, 3, 400
    counts = np.zeros(batch)
    for _ in range(draws):
        idx = ops.convert_to_numpy(sample_pair_negative_indices(1, 1, batch, negatives, seed))
        np.add.at(counts, idx[0, 0, 5], 1)
    assert counts[5] == 0
    expected = draws * negatives / (batch - 1)
    others = np.delete(counts, 5)
    # Binomial spread: sd = sqrt(n p (1 - p)) ~ 8.4 here; 4 sd bounds.
    assert np.all(np.abs(others - expected) < 4 * np.sqrt(expected * (1 - negatives / (batch - 1))))


def test_too_few_examples_is_a_clear_error():
    with pytest.raises(ValueError, match="num_negatives=5"):
        sample_pair_negative_indices(2, 2, 4, 5, 0)

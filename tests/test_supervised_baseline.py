"""The supervised baseline's recipe: its arithmetic, its checks, augmentation off."""

import numpy as np
import pytest

from keras_semppl.evaluation.supervised_baseline import SupervisedRecipe
from keras_semppl.evaluation.supervised_baseline import train_supervised_baseline

pytestmark = pytest.mark.backend_free  # plain Keras fit; the CLI tests run it per backend


def test_steps_are_passes_over_the_labelled_images():
    # 200 passes over 140 labels at batch 32: ceil(28000 / 32) = 875.
    assert SupervisedRecipe(passes=200).steps(140) == 875
    assert SupervisedRecipe(passes=50).steps(105, batch_size=32) == 165  # ceil(164.06)
    assert SupervisedRecipe(passes=0.01).steps(3) == 1


@pytest.mark.parametrize("field, value, match", [
    ("learning_rate", 0.0, "learning_rate must be a positive number"),
    ("passes", -1, "passes must be a positive number"),
    ("weight_decay", -0.1, "weight_decay must be >= 0"),
    ("learning_rate", "fast", "learning_rate"),
])
def test_bad_recipes_name_the_field(field, value, match):
    with pytest.raises(ValueError, match=match):
        SupervisedRecipe(**{field: value})


def test_without_augmentation_the_images_themselves_train_the_head():
    import keras

    def no_views(*_):
        raise AssertionError("augment=False must not draw views")

    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 8)
    images = np.where(labels[:, None, None, None] == 0, 0.1, 0.9) + 0.01 * rng.normal(
        size=(16, 4, 4, 1))
    images = images.astype("float32")
    labels_seen = labels.copy()
    labels_seen[::4] = -1  # unlabelled examples are left out
    encoder = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
                                keras.layers.Dense(4)])
    classifier = train_supervised_baseline(encoder, images, labels_seen, 2, no_views, steps=40,
                                           batch_size=4, learning_rate=0.05, augment=False)
    predicted = np.argmax(keras.ops.convert_to_numpy(classifier(images)), -1)
    np.testing.assert_array_equal(predicted, labels)

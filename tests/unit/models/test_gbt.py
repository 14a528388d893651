"""Gradient-boosted trees give the DNN's output shapes per task on transformed features, survive a
SavedModel round trip without their training files, and refuse a window lacking a class."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import tensorflow as tf

from ml_lifecycle.base.contracts import Task
from ml_lifecycle.models.features import FeatureSpec, transformed_name
from ml_lifecycle.models.gbt import MissingClassesError, grow_trees, output_columns

pytest.importorskip("tensorflow_decision_forests")

ROWS = 200
MASS = transformed_name("Body Mass (g)")
ISLAND = transformed_name("island")
LABEL = transformed_name("species")


def _data(task: Task, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    mass = rng.normal(size=ROWS).astype(np.float32)
    if task is Task.REGRESSION:
        labels = (3.0 * mass + rng.normal(scale=0.1, size=ROWS)).astype(np.float32)
    elif task is Task.MULTICLASS:
        labels = np.digitize(mass, [-0.5, 0.5]).astype(np.int64)
    else:
        labels = (mass > 0).astype(np.int64)
    return {MASS: mass, ISLAND: rng.integers(0, 3, size=ROWS).astype(np.int64), LABEL: labels}


def _spec(task: Task, classes=()) -> FeatureSpec:
    return FeatureSpec(
        label="species", numeric=["Body Mass (g)"], categorical_string=["island"], task=task, classes=classes
    )


def _features(data: dict[str, np.ndarray]) -> dict[str, tf.Tensor]:
    # As the signatures hand them over: [batch, 1] columns, the label removed.
    return {name: tf.constant(values.reshape(-1, 1)) for name, values in data.items() if name != LABEL}


@pytest.mark.parametrize(
    ("task", "classes", "width"),
    [(Task.BINARY, (), 1), (Task.MULTICLASS, ("a", "b", "c"), 3), (Task.REGRESSION, (), 1)],
)
def test_outputs_have_the_dnns_shape_and_follow_the_label(task, classes, width, tmp_path):
    data = _data(task, seed=5)
    module, trees_dir = grow_trees(_spec(task, classes), num_trees=30, max_depth=4, data=data)
    try:
        predictions = module(_features(data)).numpy()
    finally:
        shutil.rmtree(trees_dir)

    labels = data[LABEL]
    assert predictions.shape == (ROWS, width)
    if task is Task.REGRESSION:
        # The trees follow the label: far closer than predicting its mean.
        assert np.sqrt(np.mean((predictions[:, 0] - labels) ** 2)) < 0.5 * labels.std()
    else:
        predicted = predictions.argmax(axis=1) if width > 1 else (predictions[:, 0] > 0.5)
        assert np.mean(predicted == labels) > 0.9


def test_the_saved_model_answers_without_the_training_files(tmp_path):
    data = _data(Task.BINARY, seed=8)
    module, trees_dir = grow_trees(_spec(Task.BINARY), num_trees=10, max_depth=3, data=data)
    expected = module(_features(data)).numpy()
    signature = tf.function(
        lambda mass, island: {"outputs": module({MASS: mass, ISLAND: island})},
        input_signature=[tf.TensorSpec([None, 1], tf.float32), tf.TensorSpec([None, 1], tf.int64)],
        autograph=False,
    )
    tf.saved_model.save(module, str(tmp_path / "model"), signatures={"serving_default": signature})
    shutil.rmtree(trees_dir)

    loaded = tf.saved_model.load(str(tmp_path / "model")).signatures["serving_default"]
    features = _features(data)
    answered = loaded(mass=features[MASS], island=features[ISLAND])["outputs"].numpy()

    np.testing.assert_allclose(answered, expected, rtol=1e-6)


def test_a_class_missing_from_training_stops_the_trainer():
    data = _data(Task.BINARY, seed=6)  # classes 0, 1 only
    with pytest.raises(MissingClassesError, match=r"learned 2 classes, the schema lists 3 \['a', 'b', 'c'\]"):
        grow_trees(_spec(Task.MULTICLASS, ("a", "b", "c")), num_trees=5, max_depth=3, data=data)


def test_output_columns_follow_the_class_values_not_their_position():
    multiclass = _spec(Task.MULTICLASS, tuple("abcdefghijk"))
    # Class values as text sort "10" before "2": the columns still come out in class-index order.
    learned = sorted(str(index) for index in range(11))
    columns = output_columns(multiclass, learned)

    assert [learned[column] for column in columns] == [str(index) for index in range(11)]
    assert output_columns(_spec(Task.BINARY), ["1", "0"]) == [0]
    assert output_columns(_spec(Task.REGRESSION), []) == [0]


def test_a_binary_split_with_one_label_value_is_refused():
    with pytest.raises(MissingClassesError, match=r"saw only the label values \['0'\]"):
        output_columns(_spec(Task.BINARY), ["0"])


def test_two_models_in_one_process_answer_with_their_own_trees():
    first_data, second_data = _data(Task.BINARY, seed=5), _data(Task.BINARY, seed=8)
    first, first_dir = grow_trees(_spec(Task.BINARY), num_trees=30, max_depth=4, data=first_data)
    second, second_dir = grow_trees(_spec(Task.BINARY), num_trees=3, max_depth=2, data=second_data)
    try:
        features = _features(second_data)
        # Called in this order, eagerly run kernels answered with the first model for both.
        first_answers = first(features).numpy()
        second_answers = second(features).numpy()
    finally:
        shutil.rmtree(first_dir)
        shutil.rmtree(second_dir)

    assert not np.allclose(first_answers, second_answers)

"""Gradient-boosted trees give the DNN's output shapes per task on transformed features."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from ml_lifecycle.base.contracts import Task
from ml_lifecycle.models.features import FeatureSpec, transformed_name
from ml_lifecycle.models.gbt import MissingClassesError, build_gbt, check_class_count

pytest.importorskip("tensorflow_decision_forests")

ROWS = 120


def _features(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        transformed_name("Body Mass (g)"): rng.normal(size=(ROWS, 1)).astype(np.float32),
        transformed_name("island"): rng.integers(0, 3, size=(ROWS, 1)).astype(np.int64),
    }


def _spec(task: Task, classes=()) -> FeatureSpec:
    return FeatureSpec(
        label="species", numeric=["Body Mass (g)"], categorical_string=["island"], task=task, classes=classes
    )


@pytest.mark.parametrize(
    ("task", "classes", "width"),
    [(Task.BINARY, (), 1), (Task.MULTICLASS, ("a", "b", "c"), 3), (Task.REGRESSION, (), 1)],
)
def test_outputs_have_the_dnns_shape(task, classes, width):
    rng = np.random.default_rng(5)
    features = _features(rng)
    mass = features[transformed_name("Body Mass (g)")][:, 0]
    if task is Task.REGRESSION:
        labels = (3.0 * mass + rng.normal(scale=0.1, size=ROWS)).astype(np.float32)
    elif task is Task.MULTICLASS:
        labels = np.digitize(mass, [-0.5, 0.5]).astype(np.int64)
    else:
        labels = (mass > 0).astype(np.int64)
    model = build_gbt(_spec(task, classes), num_trees=20, max_depth=3)
    model.fit(tf.data.Dataset.from_tensor_slices((features, labels)).batch(64), verbose=0)

    predictions = model.predict(features, verbose=0)

    assert predictions.shape == (ROWS, width)
    if task is Task.REGRESSION:
        # The trees follow the label: far closer than predicting its mean.
        assert np.sqrt(np.mean((predictions[:, 0] - labels) ** 2)) < 0.5 * labels.std()
    else:
        predicted = predictions.argmax(axis=1) if width > 1 else (predictions[:, 0] > 0.5)
        assert np.mean(predicted == labels) > 0.9


def test_a_class_missing_from_training_stops_the_trainer():
    rng = np.random.default_rng(6)
    features = _features(rng)
    labels = (features[transformed_name("Body Mass (g)")][:, 0] > 0).astype(np.int64)  # classes 0, 1 only
    model = build_gbt(_spec(Task.MULTICLASS, ("a", "b", "c")), num_trees=5, max_depth=3)
    model.fit(tf.data.Dataset.from_tensor_slices((features, labels)).batch(64), verbose=0)

    with pytest.raises(MissingClassesError, match=r"learned 1 classes, the schema lists 3 \['a', 'b', 'c'\]"):
        check_class_count(model, features, ("a", "b", "c"))


def test_all_classes_learned_pass_the_check():
    rng = np.random.default_rng(7)
    features = _features(rng)
    labels = np.digitize(features[transformed_name("Body Mass (g)")][:, 0], [-0.5, 0.5]).astype(np.int64)
    model = build_gbt(_spec(Task.MULTICLASS, ("a", "b", "c")), num_trees=5, max_depth=3)
    model.fit(tf.data.Dataset.from_tensor_slices((features, labels)).batch(64), verbose=0)

    check_class_count(model, features, ("a", "b", "c"))

"""The Evaluator's config per task: its metrics, its label, and the gate in the metric's direction."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import tensorflow_model_analysis as tfma

from ml_lifecycle.base.contracts import Task
from ml_lifecycle.config.evaluation import EvaluationThresholds
from ml_lifecycle.config.project import load_config
from ml_lifecycle.pipeline.eval_config import eval_config

REPO_ROOT = Path(__file__).resolve().parents[3]


def _config(tmp_path, task: Task, classes=(), evaluation=None):
    config = load_config(REPO_ROOT / "lifecycle.yaml", overrides={"work_dir": str(tmp_path)})
    dataset = config.dataset
    label = dataset.label.model_copy(update={"task": task, "classes": list(classes), "expression": ""})
    update = {"dataset": dataset.model_copy(update={"label": label})}
    if evaluation is not None:
        update["evaluation"] = evaluation
    return config.model_copy(update=update)


def _metric_names(config: tfma.EvalConfig) -> list[str]:
    return [metric.class_name for spec in config.metrics_specs for metric in spec.metrics]


def _gate(config: tfma.EvalConfig) -> tuple[str, tfma.MetricThreshold]:
    (gated,) = [
        (metric.class_name, metric.per_slice_thresholds[0].threshold)
        for spec in config.metrics_specs
        for metric in spec.metrics
        if metric.per_slice_thresholds
    ]
    return gated


def test_multiclass_reads_the_class_index_from_the_transform_signature(tmp_path):
    config = eval_config(_config(tmp_path, Task.MULTICLASS, ["a", "b", "c"]), ("a", "b", "c"))

    (spec,) = config.model_specs
    assert (spec.signature_name, spec.label_key) == ("serving_default", "big_tipper_xf")
    assert list(spec.preprocessing_function_names) == ["transform_features"]
    # Named, so TFMA does not load each model whole through Keras to guess its type.
    assert spec.model_type == "tf_generic"


def test_multiclass_metrics_and_per_class_precision_recall_f1(tmp_path):
    config = eval_config(_config(tmp_path, Task.MULTICLASS, ["a", "b", "c"]), ("a", "b", "c"))

    assert _metric_names(config) == [
        "ExampleCount",
        "SparseCategoricalAccuracy",
        "SparseCategoricalCrossentropy",
        "MultiClassConfusionMatrixPlot",
        "Precision",
        "Recall",
        "F1Score",
    ]
    per_class = config.metrics_specs[1]
    assert list(per_class.binarize.class_ids.values) == [0, 1, 2]
    assert per_class.aggregate.macro_average is True
    assert dict(per_class.aggregate.class_weights) == {0: 1.0, 1: 1.0, 2: 1.0}


def test_multiclass_gates_on_accuracy_higher_is_better(tmp_path):
    metric, threshold = _gate(eval_config(_config(tmp_path, Task.MULTICLASS, ["a", "b"]), ("a", "b")))

    assert metric == "SparseCategoricalAccuracy"
    assert threshold.value_threshold.lower_bound.value == pytest.approx(0.5)
    assert threshold.change_threshold.direction == tfma.MetricDirection.HIGHER_IS_BETTER
    assert threshold.change_threshold.absolute.value == pytest.approx(-0.02)


def test_regression_metrics_and_raw_label(tmp_path):
    config = eval_config(_config(tmp_path, Task.REGRESSION))

    assert [
        (s.label_key, list(s.preprocessing_function_names), s.model_type) for s in config.model_specs
    ] == [("big_tipper", [], "tf_generic")]
    assert _metric_names(config) == [
        "ExampleCount",
        "MeanAbsoluteError",
        "MeanSquaredError",
        "RootMeanSquaredError",
        "MeanLabel",
        "MeanPrediction",
    ]


def test_regression_gates_on_rmse_lower_is_better_relative_to_the_baseline(tmp_path):
    metric, threshold = _gate(eval_config(_config(tmp_path, Task.REGRESSION)))

    assert metric == "RootMeanSquaredError"
    # No default bound (RMSE's scale is the label's): the largest float, so TFMA always validates
    # and a NaN RMSE fails.
    assert threshold.value_threshold.upper_bound.value == sys.float_info.max
    assert not threshold.value_threshold.HasField("lower_bound")
    assert threshold.change_threshold.direction == tfma.MetricDirection.LOWER_IS_BETTER
    assert threshold.change_threshold.relative.value == pytest.approx(0.05)
    assert not threshold.change_threshold.HasField("absolute")


def test_a_ceiling_and_an_absolute_allowance_for_regression(tmp_path):
    evaluation = EvaluationThresholds(max_value=12.5, max_drop=0.5)
    metric, threshold = _gate(eval_config(_config(tmp_path, Task.REGRESSION, evaluation=evaluation)))

    assert threshold.value_threshold.upper_bound.value == pytest.approx(12.5)
    assert not threshold.value_threshold.HasField("lower_bound")
    assert threshold.change_threshold.absolute.value == pytest.approx(0.5)


def test_a_higher_is_better_gate_without_a_bound_gets_the_lowest_float(tmp_path):
    evaluation = EvaluationThresholds(metric="BinaryAccuracy", max_drop=0.01)
    metric, threshold = _gate(eval_config(_config(tmp_path, Task.BINARY, evaluation=evaluation)))

    assert metric == "BinaryAccuracy"
    assert threshold.value_threshold.lower_bound.value == -sys.float_info.max
    assert threshold.change_threshold.absolute.value == pytest.approx(-0.01)

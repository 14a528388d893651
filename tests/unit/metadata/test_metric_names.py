"""How metadata.runs names TFMA's metric entries and picks a task's headline metrics: per-class and
macro-averaged entries of one metric keep their own names, and each task finds its own metrics."""

from __future__ import annotations

import pytest
from tensorflow_model_analysis.proto import metrics_for_slice_pb2, validation_result_pb2

from ml_lifecycle.base.contracts import ArtifactFile, Task
from ml_lifecycle.base.model_description import ModelDescription
from ml_lifecycle.metadata.metric_names import (
    change_text,
    class_named,
    gate_metric_name,
    headline_names,
    metric_name,
    metric_text,
    per_class_values,
    task_of_metrics,
)
from ml_lifecycle.metadata.runs import (
    MetricComparison,
    RunReport,
    SliceMetrics,
    model_description,
    overall_metrics,
    slice_metrics,
    validation_failures,
)
from ml_lifecycle.store.queries import ArtifactRecord


def _key(name: str, class_id: int | None = None, macro: bool = False, output: str = ""):
    key = metrics_for_slice_pb2.MetricKey(name=name, model_name="candidate", output_name=output)
    if class_id is not None:
        # As TFMA writes it: class 0 is an empty `class_id { }`, the value left at its default.
        key.sub_key.class_id.SetInParent()
        if class_id:
            key.sub_key.class_id.value = class_id
    if macro:
        key.aggregation_type.macro_average = True
    return key


def test_metric_names_qualify_classes_averages_and_outputs():
    assert metric_name(_key("auc")) == "auc"
    assert metric_name(_key("recall", class_id=0)) == "recall[class 0]"
    assert metric_name(_key("recall", class_id=2)) == "recall[class 2]"
    assert metric_name(_key("f1_score", macro=True)) == "f1_score[macro]"
    assert metric_name(_key("auc", output="head")) == "head/auc"
    weighted = _key("f1_score")
    weighted.aggregation_type.weighted_macro_average = True
    assert metric_name(weighted) == "f1_score[weighted_macro]"
    top = _key("precision")
    top.sub_key.top_k.value = 3
    assert metric_name(top) == "precision[top_k 3]"


def _write_metrics(directory, entries: list[tuple[metrics_for_slice_pb2.MetricKey, float]]) -> ArtifactRecord:
    import tensorflow as tf

    proto = metrics_for_slice_pb2.MetricsForSlice()
    proto.slice_key.SetInParent()
    for key, value in entries:
        entry = proto.metric_keys_and_values.add()
        entry.key.CopyFrom(key)
        entry.value.double_value.value = value
    with tf.io.TFRecordWriter(str(directory / "metrics-00000-of-00001.tfrecord")) as writer:
        writer.write(proto.SerializeToString())
    return ArtifactRecord(1, "ModelEvaluation", str(directory), {})


def test_per_class_and_macro_entries_do_not_overwrite_the_overall_metric(tmp_path):
    baseline = _key("f1_score", macro=True)
    baseline.model_name = "baseline"
    # TFMA writes the per-class entries first and the macro average last, under one name.
    evaluation = _write_metrics(
        tmp_path,
        [
            (_key("f1_score"), 0.5),
            (_key("f1_score", class_id=0), 0.9),
            (_key("f1_score", class_id=1), 0.2),
            (_key("f1_score", macro=True), 0.7),
            (baseline, 0.75),
            (_key("sparse_categorical_accuracy"), 0.88),
        ],
    )
    [overall] = slice_metrics(evaluation)
    assert overall.candidate == {
        "f1_score": 0.5,
        "f1_score[class 0]": 0.9,
        "f1_score[class 1]": 0.2,
        "f1_score[macro]": 0.7,
        "sparse_categorical_accuracy": 0.88,
    }
    metrics = {m.name: m for m in overall_metrics(evaluation)}
    assert metrics["f1_score[macro]"].change == pytest.approx(-0.05)
    assert metrics["f1_score[class 1]"].baseline is None


def test_headline_names_follow_the_task_and_fall_back_to_the_macro_average():
    multiclass = {"example_count", "f1_score[class 0]", "f1_score[macro]", "sparse_categorical_accuracy"}
    assert headline_names(Task.MULTICLASS, multiclass) == [
        "sparse_categorical_accuracy",
        "f1_score[macro]",
        "example_count",
    ]
    # An overall entry of the same name wins over the macro average.
    assert headline_names(Task.MULTICLASS, {"f1_score", "f1_score[macro]"}) == ["f1_score"]
    regression = {"mean_label", "mean_squared_error", "root_mean_squared_error", "example_count"}
    assert headline_names(Task.REGRESSION, regression) == [
        "root_mean_squared_error",
        "mean_squared_error",
        "example_count",
    ]
    assert headline_names(Task.BINARY, {"binary_accuracy", "auc"}) == ["auc", "binary_accuracy"]
    assert headline_names(None, {"auc"}) == []


def test_a_configured_gate_leads_the_headline_even_outside_the_tasks_metrics():
    regression = {"example_count", "mean_absolute_error", "mean_squared_error", "root_mean_squared_error"}
    assert headline_names(Task.REGRESSION, regression, "mean_absolute_error") == [
        "mean_absolute_error",
        "root_mean_squared_error",
        "mean_squared_error",
        "example_count",
    ]
    binary = {"auc", "binary_accuracy", "precision"}
    assert headline_names(Task.BINARY, binary, "precision") == ["precision", "auc", "binary_accuracy"]
    # A multiclass gate on F1 leads with the macro average when there is no overall entry.
    multiclass = {"sparse_categorical_accuracy", "f1_score[macro]", "f1_score[class 0]"}
    assert headline_names(Task.MULTICLASS, multiclass, "f1_score")[0] == "f1_score[macro]"
    # A gate the evaluation did not compute (a run from before the change) leaves the default order.
    assert headline_names(Task.BINARY, {"auc", "binary_accuracy"}, "precision") == ["auc", "binary_accuracy"]


def test_gate_metric_names_are_the_names_tfma_lists_the_metric_classes_under():
    from ml_lifecycle.config.evaluation import HIGHER_IS_BETTER_METRICS, LOWER_IS_BETTER_METRICS

    # Each class's default name, as TFMA 0.47 / tf-keras instantiate them (`Class().name`).
    listed = {
        "AUC": "auc",
        "AUCPrecisionRecall": "auc_precision_recall",
        "Accuracy": "accuracy",
        "BinaryAccuracy": "binary_accuracy",
        "BinaryCrossentropy": "binary_crossentropy",
        "CategoricalAccuracy": "categorical_accuracy",
        "CategoricalCrossentropy": "categorical_crossentropy",
        "F1Score": "f1_score",
        "MeanAbsoluteError": "mean_absolute_error",
        "MeanAbsolutePercentageError": "mean_absolute_percentage_error",
        "MeanSquaredError": "mean_squared_error",
        "MeanSquaredLogarithmicError": "mean_squared_logarithmic_error",
        "Precision": "precision",
        "Recall": "recall",
        "RootMeanSquaredError": "root_mean_squared_error",
        "SparseCategoricalAccuracy": "sparse_categorical_accuracy",
        "SparseCategoricalCrossentropy": "sparse_categorical_crossentropy",
    }
    assert set(listed) == HIGHER_IS_BETTER_METRICS | LOWER_IS_BETTER_METRICS  # every metric a gate may name
    assert {name: gate_metric_name(name) for name in listed} == listed


def test_every_default_gate_maps_to_its_tasks_first_headline_metric():
    from ml_lifecycle.base.contracts import HEADLINE_METRICS
    from ml_lifecycle.config.evaluation import DEFAULT_GATES

    for task, gate in DEFAULT_GATES.items():
        assert gate_metric_name(gate.metric) == HEADLINE_METRICS[task][0], task


def test_metric_text_counts_whole_label_units_whole_and_the_rest_with_four_decimals():
    assert metric_text("example_count", 300.0) == "300"
    assert metric_text("example_count", 1.0) == "1"  # a count, however small
    assert metric_text("example_count[class 2]", 12_345.0) == "12,345"
    assert metric_text("head/weighted_example_count", 7.0) == "7"
    assert metric_text("root_mean_squared_error", 23330.6) == "23,331"
    assert metric_text("mean_squared_error", 495213432.0) == "495,213,432"
    # Not a count: a whole value keeps its decimals (an RMSE of exactly 5, a recall of 1).
    assert metric_text("root_mean_squared_error", 5.0) == "5.0000"
    assert metric_text("recall[Gentoo]", 1.0) == "1.0000"
    assert metric_text("auc", 0.80123) == "0.8012"
    assert metric_text("auc", float("nan")) == "nan"


def test_change_text_is_whole_for_counts_and_label_units_else_four_decimals():
    assert change_text("example_count", 104.0, 94.0) == "-10"
    assert change_text("example_count", 300.0, 300.0) == "+0"
    assert change_text("root_mean_squared_error", 22253.4, 23330.6) == "+1,077"
    # Past 10,000 on either side is enough: the change itself may be small.
    assert change_text("mean_label", 9999.0, 10000.4) == "+1"
    assert change_text("auc", 0.8012, 0.7901) == "-0.0111"
    assert change_text("recall[Gentoo]", 1.0, 1.0) == "+0.0000"
    assert change_text("auc", float("nan"), 0.8) == "nan"


def test_the_task_is_read_from_the_gating_metric_an_evaluation_holds():
    assert task_of_metrics(["auc", "example_count"]) is Task.BINARY
    assert task_of_metrics(["sparse_categorical_accuracy", "recall[class 1]"]) is Task.MULTICLASS
    assert task_of_metrics(["mean_absolute_error", "root_mean_squared_error"]) is Task.REGRESSION
    assert task_of_metrics(["example_count"]) is None


def test_per_class_values_are_named_by_the_models_classes_in_class_order():
    metrics = {
        "recall[class 2]": 1.0,
        "recall[class 0]": 0.89,
        "recall[macro]": 0.8,
        "precision[class 1]": 0.3,
    }
    assert list(per_class_values(metrics, "recall", ("Adelie", "Chinstrap", "Gentoo")).items()) == [
        ("Adelie", 0.89),
        ("Gentoo", 1.0),
    ]
    assert per_class_values(metrics, "recall") == {"class 0": 0.89, "class 2": 1.0}
    assert class_named("recall[class 1]", ("a", "b")) == "recall[b]"
    assert class_named("recall[class 5]", ("a", "b")) == "recall[class 5]"  # past the classes: unchanged
    assert class_named("recall[macro]", ("a", "b")) == "recall[macro]"


def test_the_run_reads_its_task_from_the_model_else_from_the_metrics():
    metrics = [
        MetricComparison("example_count", 30.0),
        MetricComparison("root_mean_squared_error", 2.5, 2.0),
        MetricComparison("mean_label", 200.0),
    ]
    regression = RunReport("r", [], metrics=metrics)
    assert regression.task is Task.REGRESSION
    assert [m.name for m in regression.headline_metrics()] == ["root_mean_squared_error", "example_count"]
    described = RunReport(
        "r", [], metrics=metrics, model_description=ModelDescription(Task.MULTICLASS, "y", ("a", "b"))
    )
    assert described.task is Task.MULTICLASS and described.classes == ("a", "b")
    assert described.headline_metrics() == [metrics[0]]  # only example_count is a multiclass headline
    # The configured gate leads (`lifecycle run` passes `evaluation.metric`'s listed name).
    assert [m.name for m in regression.headline_metrics("example_count")] == [
        "example_count",
        "root_mean_squared_error",
    ]


def test_model_description_is_read_from_the_serving_directory(tmp_path):
    model = ArtifactRecord(3, "Model", str(tmp_path), {})
    assert model_description(model) is None  # the model directory is gone
    serving = tmp_path / "Format-Serving"
    serving.mkdir()
    assert model_description(model) == ModelDescription()  # exported before descriptions: binary
    path = serving / ArtifactFile.MODEL_DESCRIPTION
    path.parent.mkdir(parents=True)
    path.write_text(ModelDescription(Task.MULTICLASS, "species", ("Adelie", "Gentoo")).to_json())
    assert model_description(model).classes == ("Adelie", "Gentoo")


def test_reading_a_models_description_does_not_load_tensorflow(tmp_path):
    """`lifecycle run` describes every run, most with no evaluation: TensorFlow (~1.75 s to
    import) must wait for something that reads TFMA's files."""
    import subprocess
    import sys

    (tmp_path / "Format-Serving").mkdir()
    script = (
        "import sys\n"
        "from ml_lifecycle.metadata.runs import model_description\n"
        "from ml_lifecycle.store.queries import ArtifactRecord\n"
        f"assert model_description(ArtifactRecord(3, 'Model', {str(tmp_path)!r}, {{}})) is not None\n"
        "print(sorted(m for m in ('tensorflow', 'tfx') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_a_regression_slice_is_not_single_class_whatever_its_mean_label():
    assert not SliceMetrics(
        {"rooms": 3}, {"root_mean_squared_error": 9.0, "mean_label": 250000.0}
    ).single_class
    assert SliceMetrics({"hour": 3}, {"auc": 0.0, "mean_label": 1.0}).single_class


def test_validation_without_thresholds_says_so(tmp_path):
    import tensorflow as tf

    result = validation_result_pb2.ValidationResult(validation_ok=False, missing_thresholds=True)
    result.missing_slices.add().feature_keys.append("rooms")
    with tf.io.TFRecordWriter(str(tmp_path / "validations.tfrecord")) as writer:
        writer.write(result.SerializeToString())
    assert validation_failures(ArtifactRecord(1, "ModelEvaluation", str(tmp_path), {})) == [
        "no threshold applied (TFMA: missing_thresholds)",
        'slice feature_keys: "rooms": not evaluated',
    ]

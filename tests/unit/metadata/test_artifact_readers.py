"""The artifact-file readers in metadata.runs on hand-written artifact directories: TFMA metrics and
validation results (tfrecords of protos), a schema.pbtxt and per-split anomalies."""

from __future__ import annotations

import pytest
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2

from ml_lifecycle.metadata.runs import (
    anomalies_protos,
    overall_metrics,
    schema_proto,
    slice_metrics,
    validation_failures,
)
from ml_lifecycle.store.queries import ArtifactRecord


def _write_records(path, protos) -> None:
    import tensorflow as tf

    with tf.io.TFRecordWriter(str(path)) as writer:
        for proto in protos:
            writer.write(proto.SerializeToString())


def _metrics_for_slice(slice_key: dict, values: dict[tuple[str, str], float], diff: float | None = None):
    from tensorflow_model_analysis.proto import metrics_for_slice_pb2

    proto = metrics_for_slice_pb2.MetricsForSlice()
    for column, value in slice_key.items():
        single = proto.slice_key.single_slice_keys.add(column=column)
        if isinstance(value, int):
            single.int64_value = value
        else:
            single.bytes_value = value.encode()
    for (model, name), value in values.items():
        entry = proto.metric_keys_and_values.add()
        entry.key.name, entry.key.model_name = name, model
        entry.value.double_value.value = value
    if diff is not None:
        entry = proto.metric_keys_and_values.add()
        entry.key.name, entry.key.model_name, entry.key.is_diff = "auc", "candidate", True
        entry.value.double_value.value = diff
    return proto


@pytest.fixture
def evaluation(tmp_path) -> ArtifactRecord:
    _write_records(
        tmp_path / "metrics-00000-of-00001.tfrecord",
        [
            _metrics_for_slice({"hour": 10}, {("candidate", "auc"): 0.7}),
            _metrics_for_slice({"payment": "Cash"}, {("candidate", "auc"): 0.6}),
            _metrics_for_slice(
                {},
                {("candidate", "auc"): 0.8, ("baseline", "auc"): 0.9, ("candidate", "example_count"): 30.0},
                -0.1,
            ),
            _metrics_for_slice({"hour": 9}, {("candidate", "auc"): 0.5}),
        ],
    )
    return ArtifactRecord(1, "ModelEvaluation", str(tmp_path), {})


def test_slice_metrics_overall_first_numbers_in_numeric_order(evaluation):
    slices = slice_metrics(evaluation)
    assert [s.name for s in slices] == ["overall", "hour=9", "hour=10", "payment=Cash"]
    overall = slices[0]
    assert overall.candidate == {"auc": 0.8, "example_count": 30.0}  # the is_diff entry left out
    assert overall.baseline == {"auc": 0.9}
    assert slices[3].slice == {"payment": "Cash"}


def test_overall_metrics_pair_candidate_with_baseline(evaluation):
    metrics = {m.name: m for m in overall_metrics(evaluation)}
    assert metrics["auc"].change == pytest.approx(-0.1)
    assert metrics["example_count"].baseline is None


def test_validation_failures_name_slice_metric_value_and_message(tmp_path, evaluation):
    from tensorflow_model_analysis.proto import validation_result_pb2

    assert validation_failures(evaluation) == []  # no validation file: nothing to explain
    result = validation_result_pb2.ValidationResult(validation_ok=False)
    per_slice = result.metric_validations_per_slice.add()
    failure = per_slice.failures.add(message="Metric change below threshold")
    failure.metric_key.name = "auc"
    failure.metric_value.double_value.value = 0.8
    per_hour = result.metric_validations_per_slice.add()
    per_hour.slice_key.single_slice_keys.add(column="hour", int64_value=9)
    per_hour.failures.add(message="too low").metric_key.name = "auc"
    _write_records(tmp_path / "validations.tfrecord", [result])
    assert validation_failures(evaluation) == [
        "overall: auc = 0.8000: Metric change below threshold",
        "hour=9: auc: too low",
    ]


def test_schema_and_anomalies_read_from_their_artifact_files(tmp_path):
    schema = schema_pb2.Schema()
    schema.feature.add(name="fare", type=schema_pb2.FLOAT)
    (tmp_path / "schema.pbtxt").write_text(str(schema))
    assert schema_proto(ArtifactRecord(1, "Schema", str(tmp_path), {})) == schema

    anomalies = anomalies_pb2.Anomalies()
    anomalies.anomaly_info["fare"].description = "out of range"
    (tmp_path / "Split-train").mkdir()
    (tmp_path / "Split-train" / "SchemaDiff.pb").write_bytes(anomalies.SerializeToString())
    record = ArtifactRecord(2, "ExampleAnomalies", str(tmp_path), {"split_names": '["train", "eval"]'})
    protos = anomalies_protos(record)
    assert list(protos) == ["train"]  # eval wrote no file
    assert protos["train"].anomaly_info["fare"].description == "out of range"


def test_single_class_slices_are_named():
    from ml_lifecycle.metadata.runs import SliceMetrics

    assert SliceMetrics({"hour": 3}, {"auc": 0.0, "mean_label": 0.0}).single_class
    assert SliceMetrics({"hour": 3}, {"auc": 0.0, "mean_label": 1.0}).single_class
    assert not SliceMetrics({"hour": 4}, {"auc": 0.7, "mean_label": 0.2}).single_class
    assert not SliceMetrics({}, {"auc": 0.7}).single_class  # no mean_label: nothing to say


def _report(tmp_path, **fields):
    from ml_lifecycle.metadata.runs import RunReport
    from ml_lifecycle.store.queries import ComponentRun

    evaluator = ComponentRun(
        "evaluator",
        "COMPLETE",
        1.0,
        7,
        outputs={"evaluation": [ArtifactRecord(9, "ModelEvaluation", str(tmp_path), {})]},
    )
    states = fields.pop("states", {})
    others = [ComponentRun(name, state, 1.0) for name, state in states.items()]
    return RunReport("run-1", [evaluator, *others], **fields)


def test_not_pushed_reason_names_the_first_cause(tmp_path):
    from tensorflow_model_analysis.proto import validation_result_pb2

    from ml_lifecycle.metadata.runs import evaluation_record, not_pushed_reason

    assert not_pushed_reason(_report(tmp_path, pushed_version="17", blessed=True)) == ""
    assert evaluation_record(_report(tmp_path)).id == 9
    failed = _report(tmp_path, blessed=None, states={"trainer": "FAILED"})
    assert not_pushed_reason(failed) == "run failed in trainer"
    assert not_pushed_reason(_report(tmp_path, blessed=None)) == "not evaluated"
    checked = _report(tmp_path, blessed=True, model_check_passed=False, model_check_reason="bad answer")
    assert not_pushed_reason(checked) == "model check failed: bad answer"

    unblessed = _report(tmp_path, blessed=False)
    assert not_pushed_reason(unblessed) == "not blessed: below the evaluation thresholds"
    result = validation_result_pb2.ValidationResult(validation_ok=False)
    failure = result.metric_validations_per_slice.add().failures.add(message="change -0.03 < -0.02")
    failure.metric_key.name = "auc"
    _write_records(tmp_path / "validations.tfrecord", [result])
    assert not_pushed_reason(unblessed) == "not blessed: overall: auc: change -0.03 < -0.02"

"""Prediction logs: hourly TFRecord files of PredictionLog, read back in order; sampling, a full queue
and write errors are counted, never raised to the request."""

from __future__ import annotations

import calendar
import logging
import random
from pathlib import Path

import pytest

from ml_lifecycle.config.serving import PredictionLogConfig
from ml_lifecycle.serving.observability.log_records import (
    LoggedPrediction,
    log_annotations,
    rows_from_prediction_logs,
)
from ml_lifecycle.serving.observability.log_tensors import tensor_values
from ml_lifecycle.serving.observability.prediction_log import (
    PredictionLogWriter,
    prediction_log_files,
    read_prediction_logs,
)
from tests.unit.serving.fakes import StalledWriter

# 2026-01-01 00:00:00 UTC: records just before and after it land in different hour partitions.
NEW_YEAR = float(calendar.timegm((2026, 1, 1, 0, 0, 0)))


def _record(time_s: float, route: str = "stable", **changes) -> LoggedPrediction:
    fields = dict(
        model="taxi",
        version=7,
        signature_name="serving_raw",
        method="predict",
        inputs={"fare": [10.5, None], "trip_start_hour": [5, 23], "payment_type": ["Cash", None]},
        outputs={"outputs": [[0.8], [0.1]]},
        route=route,
        latency_ms=2.5,
        time_s=time_s,
    )
    fields.update(changes)
    return LoggedPrediction(**fields)


def _config(**changes) -> PredictionLogConfig:
    return PredictionLogConfig(**changes)


def test_records_across_an_hour_boundary_go_to_two_partitions_and_read_back_in_order(tmp_path):
    writer = PredictionLogWriter(_config(), tmp_path)
    writer.submit(_record(NEW_YEAR - 1, route="stable", latency_ms=1.25))
    writer.submit(_record(NEW_YEAR + 1, route="canary", version=8))
    writer.close()

    assert writer.stats() == {
        "written": 2,
        "sampled_out": 0,
        "dropped": 0,
        "errors": 0,
        "partitions_deleted": 0,
    }
    files = prediction_log_files(tmp_path)
    assert [f.relative_to(tmp_path).parts[:2] for f in files] == [("2025-12-31", "23"), ("2026-01-01", "00")]

    first, second = list(read_prediction_logs(tmp_path))
    assert first.log_metadata.model_spec.name == "taxi"
    assert first.log_metadata.model_spec.version.value == 7
    assert first.log_metadata.timestamp_secs == int(NEW_YEAR - 1)
    assert first.log_metadata.sampling_config.sampling_rate == 1.0
    assert log_annotations(first) == ("stable", 1.25)
    assert log_annotations(second) == ("canary", 2.5)
    assert second.predict_log.request.model_spec.version.value == 8
    assert second.predict_log.request.model_spec.signature_name == "serving_raw"
    request = first.predict_log.request.inputs
    assert tensor_values(request["trip_start_hour"]) == [5, 23]
    assert tensor_values(request["payment_type"]) == ["Cash", ""]
    assert tensor_values(request["fare"])[0] == 10.5
    outputs = first.predict_log.response.outputs["outputs"]
    assert list(outputs.tensor_shape.dim[i].size for i in range(2)) == [2, 1]
    assert tensor_values(outputs) == [[0.8], [0.1]]


def test_logged_requests_turn_back_into_feature_rows_without_shadow_copies(tmp_path):
    import tensorflow as tf

    example = tf.train.Example(
        features=tf.train.Features(
            feature={
                "fare": tf.train.Feature(float_list=tf.train.FloatList(value=[41.9])),
                "payment_type": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"Credit Card"])),
                "trip_start_hour": tf.train.Feature(int64_list=tf.train.Int64List(value=[])),
            }
        )
    )
    with PredictionLogWriter(_config(), tmp_path) as writer:
        writer.submit(_record(NEW_YEAR))
        writer.submit(_record(NEW_YEAR + 1, route="shadow"))
        writer.submit(
            _record(
                NEW_YEAR + 2,
                method="classify",
                signature_name="serving_default",
                inputs={"examples": [example.SerializeToString()]},
                outputs={"result": [[["0", 0.3], ["1", 0.7]]]},
            )
        )
    logs = list(read_prediction_logs(tmp_path))
    assert [log.WhichOneof("log_type") for log in logs] == ["predict_log", "predict_log", "classify_log"]
    classes = logs[2].classify_log.response.result.classifications[0].classes
    assert [(c.label, round(c.score, 3)) for c in classes] == [("0", 0.3), ("1", 0.7)]

    rows = list(rows_from_prediction_logs(logs))
    assert rows == [
        {"fare": 10.5, "trip_start_hour": 5, "payment_type": "Cash"},
        {"fare": None, "trip_start_hour": 23, "payment_type": None},
        {"fare": 41.9, "payment_type": "Credit Card", "trip_start_hour": None},
    ]
    assert list(rows_from_prediction_logs(logs, model="bikes")) == []


def test_an_unwritable_directory_is_counted_and_logged_once_never_raised(tmp_path, caplog):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the log directory should be")
    writer = PredictionLogWriter(_config(), blocker / "logs")
    with caplog.at_level(logging.ERROR, logger="ml_lifecycle.serving.observability.prediction_log"):
        for second in range(5):
            writer.submit(_record(NEW_YEAR + second))
        writer.close()
    assert writer.stats() == {
        "written": 0,
        "sampled_out": 0,
        "dropped": 0,
        "errors": 5,
        "partitions_deleted": 0,
    }
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "not-a-directory" in errors[0].getMessage()


class _FullDiskWriter(PredictionLogWriter):
    """Every file it opens is /dev/full: writes buffer, the flush fails with ENOSPC."""

    def _open_writer(self, path: str, tf):
        return tf.io.TFRecordWriter("/dev/full")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_disk_loses_records_as_counted_errors(tmp_path):
    writer = _FullDiskWriter(_config(), tmp_path)
    writer.submit(_record(NEW_YEAR))
    writer.submit(_record(NEW_YEAR + 1))
    writer.close()
    stats = writer.stats()
    assert stats["written"] == 0
    assert stats["errors"] == 2


def test_a_full_queue_drops_and_counts_records_instead_of_blocking(tmp_path):
    writer = StalledWriter(_config(max_queue=2), tmp_path)
    writer.submit(_record(NEW_YEAR))
    assert writer.started.wait(timeout=30)
    for second in range(1, 6):
        writer.submit(_record(NEW_YEAR + second))  # 2 fit in the queue, 3 are dropped
    assert writer.stats()["dropped"] == 3
    writer.release.set()
    writer.close()
    writer.submit(_record(NEW_YEAR + 9))  # after close: dropped, not raised
    assert writer.stats() == {
        "written": 3,
        "sampled_out": 0,
        "dropped": 4,
        "errors": 0,
        "partitions_deleted": 0,
    }
    assert len(list(read_prediction_logs(tmp_path))) == 3


@pytest.mark.parametrize("rate", [0.0, 0.25, 1.0])
def test_sampling_keeps_about_the_configured_share(tmp_path, rate):
    submitted = 4000
    writer = PredictionLogWriter(
        _config(sample_rate=rate, max_queue=submitted), tmp_path, rng=random.Random(5)
    )
    for index in range(submitted):
        writer.submit(_record(NEW_YEAR + index / 1000))
    writer.close(timeout=60)
    stats = writer.stats()
    assert stats["written"] + stats["sampled_out"] == submitted
    expected = submitted * rate
    sigma = (submitted * rate * (1 - rate)) ** 0.5
    assert abs(stats["written"] - expected) <= 5 * sigma  # 0 width at rates 0 and 1
    assert len(list(read_prediction_logs(tmp_path))) == stats["written"]


def test_a_truncated_last_record_is_skipped_with_a_warning(tmp_path, caplog):
    with PredictionLogWriter(_config(), tmp_path) as writer:
        writer.submit(_record(NEW_YEAR))
        writer.submit(_record(NEW_YEAR + 1))
    (path,) = prediction_log_files(tmp_path)
    path.write_bytes(path.read_bytes()[:-5])  # as a crash mid-write would leave it
    with caplog.at_level(logging.WARNING, logger="ml_lifecycle.serving.observability.prediction_log"):
        logs = list(read_prediction_logs(tmp_path))
    assert len(logs) == 1
    assert any("truncated" in r.getMessage() for r in caplog.records)


def test_a_malformed_record_is_an_error_not_an_exception(tmp_path):
    with PredictionLogWriter(_config(), tmp_path) as writer:
        writer.submit(_record(NEW_YEAR, method="explain"))
        writer.submit(_record(NEW_YEAR, method="classify"))  # no examples, no result
        writer.submit(_record(NEW_YEAR, inputs={"fare": [[1.0], [2.0, 3.0]]}))  # ragged
        writer.submit(_record(NEW_YEAR))
    assert writer.stats() == {
        "written": 1,
        "sampled_out": 0,
        "dropped": 0,
        "errors": 3,
        "partitions_deleted": 0,
    }


def test_numpy_columns_are_logged_like_lists(tmp_path):
    import numpy as np

    inputs = {
        "fare": np.array([[10.5], [2.0]], dtype=np.float32),
        "payment_type": np.array([b"Cash", b"Dispute"]),
    }
    with PredictionLogWriter(_config(), tmp_path) as writer:
        writer.submit(_record(NEW_YEAR, inputs=inputs))
    assert list(rows_from_prediction_logs(read_prediction_logs(tmp_path))) == [
        {"fare": 10.5, "payment_type": "Cash"},
        {"fare": 2.0, "payment_type": "Dispute"},
    ]


def _reference_tensor(dtype: int, shape: list[int], field: str, values: list):
    """A TensorProto filled value by value through protobuf's own containers."""
    from tensorflow.core.framework import tensor_pb2

    proto = tensor_pb2.TensorProto(dtype=dtype)
    for size in shape:
        proto.tensor_shape.dim.add(size=size)
    getattr(proto, field).extend(values)
    return proto


@pytest.mark.parametrize(
    "column, dtype_name, field, expected",
    [
        # Numbers with a missing value: DT_FLOAT, None as NaN; ints among them become floats.
        ([1.5, None, 3], "DT_FLOAT", "float_val", [1.5, float("nan"), 3.0]),
        # Edge values: float32 rounding, past float32's range, subnormal, negative zero.
        ([0.1, 1e300, -1e300, 3.4028236e38, 1e-45, -0.0], "DT_FLOAT", "float_val", None),
        ([5, -(2**63), 2**63 - 1], "DT_INT64", "int64_val", None),
        (["Cash", None, "é"], "DT_STRING", "string_val", [b"Cash", b"", "é".encode()]),
        ([None, None], "DT_FLOAT", "float_val", [float("nan")] * 2),
    ],
)
def test_request_columns_become_the_same_tensor_as_value_by_value(column, dtype_name, field, expected):
    from tensorflow.core.framework import types_pb2

    from ml_lifecycle.serving.observability.log_tensors import tensor_proto

    expected = column if expected is None else expected
    reference = _reference_tensor(types_pb2.DataType.Value(dtype_name), [len(column)], field, expected)
    assert tensor_proto(column).SerializeToString() == reference.SerializeToString()


def test_output_arrays_are_logged_as_their_nested_lists():
    import numpy as np

    from ml_lifecycle.serving.observability.log_tensors import tensor_proto

    scores = np.array([[0.8], [0.1], [1 / 3]], dtype=np.float32)
    assert tensor_proto(scores).SerializeToString() == tensor_proto(scores.tolist()).SerializeToString()
    assert tensor_values(tensor_proto(scores)) == [[0.8], [0.1], [float(str(np.float32(1 / 3)))]]


def _examples(*fares: float) -> list[bytes]:
    import tensorflow as tf

    examples = []
    for fare in fares:
        example = tf.train.Example()
        example.features.feature["Body Mass (g)"].float_list.value.append(fare)
        examples.append(example.SerializeToString())
    return examples


def test_regress_records_are_regress_logs_and_read_back(tmp_path):
    from ml_lifecycle.serving.observability.log_records import log_results

    with PredictionLogWriter(_config(), tmp_path) as writer:
        writer.submit(
            _record(
                NEW_YEAR,
                method="regress",
                inputs={"examples": _examples(4200.0, 3650.5)},
                outputs={"result": [2100.0, 1825.25]},
            )
        )
        writer.submit(_record(NEW_YEAR + 1))
    regress, predict = list(read_prediction_logs(tmp_path))
    assert regress.WhichOneof("log_type") == "regress_log"
    assert regress.regress_log.request.model_spec.signature_name == "serving_raw"
    assert regress.regress_log.response.model_spec.version.value == 7
    assert log_results(regress) == {"result": [2100.0, 1825.25]}
    assert log_results(predict) == {"outputs": [[0.8], [0.1]]}
    assert list(rows_from_prediction_logs([regress])) == [
        {"Body Mass (g)": 4200.0},
        {"Body Mass (g)": 3650.5},
    ]


def test_classify_records_read_back_under_result_and_the_old_results_key_still_writes(tmp_path):
    from ml_lifecycle.serving.observability.log_records import log_results

    species = [[["Adelie", 0.7], ["Gentoo", 0.3]]]
    with PredictionLogWriter(_config(), tmp_path) as writer:
        writer.submit(
            _record(
                NEW_YEAR, method="classify", inputs={"examples": _examples(1.0)}, outputs={"result": species}
            )
        )
        # A record built as this server built them before TF Serving's key (`results`).
        writer.submit(
            _record(
                NEW_YEAR + 1,
                method="classify",
                inputs={"examples": _examples(2.0)},
                outputs={"results": species},
            )
        )
    new, old = list(read_prediction_logs(tmp_path))
    assert log_results(new) == log_results(old) == {"result": species}
    assert list(rows_from_prediction_logs([old])) == [{"Body Mass (g)": 2.0}]

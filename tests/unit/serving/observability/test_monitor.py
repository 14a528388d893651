"""Monitor: Prometheus text that parses, input checks against a 3-feature SERVING schema, windowed
alert metrics, and alerts that fire once and resolve."""

from __future__ import annotations

import logging
import threading

import numpy as np
import pytest
from google.protobuf import text_format
from prometheus_client.parser import text_string_to_metric_families
from tensorflow_metadata.proto.v0 import schema_pb2

from ml_lifecycle.base.contracts import Task
from ml_lifecycle.config.serving import AlertRule, MonitoringConfig
from ml_lifecycle.datasets.schema_file import read_schema
from ml_lifecycle.serving.inference.answers import ModelAnswer
from ml_lifecycle.serving.observability.monitor import Monitor
from ml_lifecycle.serving.observability.schema_checks import check_row, serving_expectations

# fare: required float; payment_type: optional string with a domain; hour: required int 0..23;
# big_tipper: the label, not in SERVING.
SCHEMA_TEXT = """
feature { name: "fare" type: FLOAT presence { min_fraction: 1.0 } }
feature { name: "payment_type" type: BYTES domain: "payment_type" presence { min_count: 1 } }
feature { name: "hour" type: INT int_domain { min: 0 max: 23 } presence { min_fraction: 1.0 } }
feature {
  name: "big_tipper" type: INT int_domain { min: 0 max: 1 } presence { min_fraction: 1.0 }
  not_in_environment: "SERVING"
}
string_domain { name: "payment_type" value: "Cash" value: "Credit Card" }
default_environment: "TRAINING"
default_environment: "SERVING"
"""
GOOD_ROW = {"fare": 10.5, "payment_type": "Cash", "hour": 5}


def _binary(scores: list[float]) -> ModelAnswer:
    return ModelAnswer.of(Task.BINARY, scores)


@pytest.fixture
def schema() -> schema_pb2.Schema:
    return text_format.Parse(SCHEMA_TEXT, schema_pb2.Schema())


def _families(text: str) -> dict:
    return {family.name: family for family in text_string_to_metric_families(text)}


def _value(families: dict, family: str, sample_name: str, **labels) -> float:
    matches = [
        s.value
        for s in families[family].samples
        if s.name == sample_name and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(matches) == 1, (sample_name, labels, families[family].samples)
    return matches[0]


def test_the_label_is_not_expected_in_serving_and_required_features_are_known(schema):
    expectations = serving_expectations(schema)
    assert sorted(expectations) == ["fare", "hour", "payment_type"]
    assert expectations["fare"].required and expectations["hour"].required
    assert not expectations["payment_type"].required
    assert expectations["payment_type"].string_values == {"Cash", "Credit Card"}


@pytest.mark.parametrize(
    "row, missing, out_of_schema",
    [
        (GOOD_ROW, (), ()),
        ({"fare": 10.5, "hour": 5}, ("payment_type",), ()),  # optional feature missing: fine
        ({"fare": None, "payment_type": "Cash", "hour": 5}, ("fare",), ("fare",)),  # required missing
        ({"fare": "ten", "payment_type": "Cash", "hour": 5}, (), ("fare",)),  # wrong type
        ({"fare": 10.5, "payment_type": "Bitcoin", "hour": 5}, (), ("payment_type",)),  # outside domain
        ({"fare": 10.5, "payment_type": "Cash", "hour": 24}, (), ("hour",)),  # outside int_domain
        ({"fare": 10.5, "payment_type": "Cash", "hour": 5.5}, (), ("hour",)),  # not an integer
        ({"fare": [10.5], "payment_type": ["Cash"], "hour": [5]}, (), ()),  # [batch, 1] cells
        ({**GOOD_ROW, "big_tipper": 1}, (), ("big_tipper",)),  # the label is not a serving input
        ({**GOOD_ROW, "fare": float("nan")}, ("fare",), ("fare",)),
    ],
)
def test_rows_are_checked_against_the_serving_environment(schema, row, missing, out_of_schema):
    check = check_row(row, serving_expectations(schema))
    assert check.missing == missing
    assert check.out_of_schema == out_of_schema


@pytest.mark.parametrize(
    "row",
    [
        GOOD_ROW,
        {"fare": "", "payment_type": "", "hour": float("nan")},
        {"fare": 7, "payment_type": "Bitcoin", "hour": 6.0},
        {"fare": -1e9, "payment_type": "Cash", "hour": -1},
        {"fare": True, "payment_type": 3, "hour": "5"},
    ],
)
def test_scalar_cells_are_checked_like_one_value_lists(schema, row):
    # Scalars take a shortcut past the list-of-values path; both must agree.
    expectations = serving_expectations(schema)
    assert check_row(row, expectations) == check_row({k: [v] for k, v in row.items()}, expectations)


def test_input_fractions_slide_over_the_window(schema):
    monitor = Monitor(MonitoringConfig(window=4), schema)
    monitor.record_inputs("taxi", [GOOD_ROW, {"fare": 10.5, "payment_type": "Bitcoin", "hour": 5}])
    monitor.record_inputs("taxi", [{"fare": 1.0, "hour": 3}, {"payment_type": "Cash", "hour": 1}])
    assert monitor.metric_value("input_out_of_schema_fraction", "taxi") == (0.5, 4)
    assert monitor.metric_value("input_out_of_schema_fraction:payment_type", "taxi") == (0.25, 4)
    assert monitor.metric_value("input_missing_fraction:payment_type", "taxi") == (0.25, 4)
    assert monitor.metric_value("input_missing_fraction", "taxi") == (0.25, 4)  # the worst feature
    monitor.record_inputs("taxi", [GOOD_ROW] * 3)  # pushes out the first three rows
    assert monitor.metric_value("input_out_of_schema_fraction", "taxi") == (0.25, 4)
    assert monitor.metric_value("input_missing_fraction:fare", "taxi") == (0.25, 4)
    assert monitor.metric_value("input_missing_fraction:payment_type", "taxi") == (0.0, 4)


def test_prometheus_text_parses_and_holds_every_family(schema):
    monitor = Monitor(MonitoringConfig(window=100), schema)
    monitor.record_request("taxi", 7, "stable", 200, 0.0008)
    monitor.record_request("taxi", 7, "stable", 200, 0.003)
    monitor.record_request("taxi", 8, "canary", 500, 0.2)
    monitor.record_request("nope", None, "stable", 404, 0.0001)
    monitor.record_inputs("taxi", [GOOD_ROW, {"fare": 1.0, "payment_type": 'say "hi"\\', "hour": 3}])
    monitor.record_outputs("taxi", 7, _binary([0.05, 0.55, 0.95]), deferred=[False, True, False])
    monitor.record_shadow("taxi", 7, 8, agree=True, abs_diff=0.01)
    monitor.record_shadow("taxi", 7, 8, agree=False, abs_diff=0.3)
    monitor.record_log_stats({"written": 3, "sampled_out": 1, "dropped": 0, "errors": 2})

    text = monitor.prometheus_text()
    families = _families(text)  # raises on malformed exposition text
    assert "# HELP lifecycle_serving_requests_total" in text
    assert "# TYPE lifecycle_serving_request_latency_seconds histogram" in text
    p = "lifecycle_serving"
    assert (
        _value(
            families, f"{p}_requests", f"{p}_requests_total", model="taxi", version="7", status_class="2xx"
        )
        == 2
    )
    assert _value(families, f"{p}_request_errors", f"{p}_request_errors_total", model="nope", version="") == 1
    latency = f"{p}_request_latency_seconds"
    stable = {"model": "taxi", "version": "7", "route": "stable"}
    assert _value(families, latency, f"{latency}_bucket", le="0.001", **stable) == 1
    assert _value(families, latency, f"{latency}_bucket", le="0.005", **stable) == 2
    assert _value(families, latency, f"{latency}_bucket", le="+Inf", **stable) == 2
    assert _value(families, latency, f"{latency}_count", **stable) == 2
    assert _value(families, latency, f"{latency}_sum", **stable) == pytest.approx(0.0038)
    assert _value(families, f"{p}_score", f"{p}_score_bucket", model="taxi", le="0.5") == 1
    assert _value(families, f"{p}_score", f"{p}_score_count", model="taxi") == 3
    assert _value(
        families, f"{p}_deferred_fraction", f"{p}_deferred_fraction", model="taxi"
    ) == pytest.approx(1 / 3)
    assert _value(families, f"{p}_score_mean", f"{p}_score_mean", model="taxi") == pytest.approx(1.55 / 3)
    oos = f"{p}_input_out_of_schema_fraction"
    assert _value(families, oos, oos, model="taxi", feature="payment_type") == 0.5
    assert _value(families, oos, oos, model="taxi", feature="fare") == 0.0
    agreement = f"{p}_shadow_agreement"
    assert _value(families, agreement, agreement, live_version="7", shadow_version="8") == 0.5
    log = f"{p}_prediction_log_records"
    assert _value(families, log, f"{log}_total", outcome="errors") == 2
    assert _value(families, f"{p}_error_rate", f"{p}_error_rate", model="taxi") == pytest.approx(1 / 3)


def test_alerts_fire_once_then_resolve(caplog):
    times = iter(range(100, 200))
    config = MonitoringConfig(
        window=10,
        alerts=[
            AlertRule(name="server-errors", metric="error_rate", max=0.2, min_count=5),
            AlertRule(name="log-loss", metric="prediction_log_dropped", max=0),
        ],
    )
    monitor = Monitor(config, None, clock=lambda: float(next(times)))
    for _ in range(4):
        monitor.record_request("taxi", 1, "stable", 500, 0.01)
    assert monitor.evaluate_alerts() == []  # 4 observations < min_count 5: not judged yet

    with caplog.at_level(logging.WARNING, logger="ml_lifecycle.serving.observability.alerts"):
        monitor.record_request("taxi", 1, "stable", 200, 0.01)
        (alert,) = monitor.evaluate_alerts()
        assert (alert.rule, alert.metric, alert.model, alert.bound, alert.threshold) == (
            "server-errors",
            "error_rate",
            "taxi",
            "max",
            0.2,
        )
        assert alert.value == pytest.approx(0.8)
        since = alert.since
        monitor.record_request("taxi", 1, "stable", 500, 0.01)
        (still,) = monitor.evaluate_alerts()
    assert still.since == since  # the same alert, not a new one
    assert len([r for r in caplog.records if "server-errors" in r.getMessage()]) == 1
    assert monitor.alerts() == [still]
    assert still.to_json()["rule"] == "server-errors"

    for _ in range(10):  # the window forgets the errors
        monitor.record_request("taxi", 1, "stable", 200, 0.01)
    assert monitor.evaluate_alerts() == []
    assert monitor.alerts() == []

    monitor.record_log_stats({"written": 1, "sampled_out": 0, "dropped": 3, "errors": 0})
    (dropped,) = monitor.evaluate_alerts()
    assert (dropped.rule, dropped.model, dropped.value) == ("log-loss", "", 3.0)
    assert 'lifecycle_serving_alert_active{metric="prediction_log_dropped"' in monitor.prometheus_text()


def test_min_rules_and_model_scoped_rules():
    config = MonitoringConfig(
        window=10,
        alerts=[
            AlertRule(name="shadow-disagrees", metric="shadow_agreement", min=0.9, min_count=2, model="taxi")
        ],
    )
    monitor = Monitor(config, None)
    for agree in (True, False, True):
        monitor.record_shadow("taxi", 1, 2, agree=agree, abs_diff=0.1)
        monitor.record_shadow("bikes", 1, 2, agree=False, abs_diff=0.5)
    (alert,) = monitor.evaluate_alerts()
    assert (alert.model, alert.bound, alert.threshold) == ("taxi", "min", 0.9)
    assert alert.value == pytest.approx(2 / 3)


def test_unknown_alert_metrics_are_refused_when_the_config_loads():
    with pytest.raises(ValueError, match="unknown metric 'latency_p95'"):
        AlertRule(name="slow", metric="latency_p95", max=0.1)
    with pytest.raises(ValueError, match="unknown metric"):
        AlertRule(name="slow", metric="error_rate:fare", max=0.1)
    AlertRule(name="fare-missing", metric="input_missing_fraction:fare", max=0.1)


def test_recording_from_many_threads_loses_no_count(schema):
    monitor = Monitor(MonitoringConfig(window=50), schema)

    def hammer():
        for _ in range(500):
            monitor.record_request("taxi", 1, "stable", 200, 0.002)
            monitor.record_inputs("taxi", [GOOD_ROW])

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    families = _families(monitor.prometheus_text())
    p = "lifecycle_serving"
    assert _value(families, f"{p}_requests", f"{p}_requests_total", model="taxi") == 2000
    assert _value(families, f"{p}_input_rows", f"{p}_input_rows_total", model="taxi") == 2000
    assert monitor.metric_value("input_out_of_schema_fraction", "taxi") == (0.0, 50)


def test_read_schema_reads_the_curated_taxi_schema(tmp_path):
    from pathlib import Path

    taxi = Path(__file__).resolve().parents[4] / "schemas" / "taxi" / "schema.pbtxt"
    expectations = serving_expectations(read_schema(taxi))
    assert "big_tipper" not in expectations
    assert "Cash" in expectations["payment_type"].string_values
    broken = tmp_path / "schema.pbtxt"
    broken.write_text("feature { name: ")
    with pytest.raises(ValueError, match="cannot read the schema"):
        read_schema(broken)


def test_score_window_keeps_the_last_rows_across_batches():
    monitor = Monitor(MonitoringConfig(window=5), None)
    monitor.record_outputs("taxi", 1, _binary([0.1, 0.2, 0.3]), deferred=[True, True, False])
    # Evicts 0.1 and 0.2 (deferred).
    monitor.record_outputs("taxi", 1, _binary([0.9, 0.9, 0.9, 0.9]), deferred=[True, False, False, False])
    assert monitor.metric_value("score_mean", "taxi") == (pytest.approx((0.3 + 3.6) / 5), 5)
    assert monitor.metric_value("deferred_fraction", "taxi") == (pytest.approx(0.2), 5)
    monitor.record_outputs("taxi", 2, _binary([0.5] * 7), deferred=[True] * 7)  # larger than the window
    assert monitor.metric_value("score_mean", "taxi") == (pytest.approx(0.5), 5)
    assert monitor.metric_value("deferred_fraction", "taxi") == (pytest.approx(1.0), 5)
    families = _families(monitor.prometheus_text())
    p = "lifecycle_serving"
    assert _value(families, f"{p}_score", f"{p}_score_count", model="taxi", version="2") == 7
    assert _value(families, f"{p}_score", f"{p}_score_bucket", model="taxi", version="1", le="0.2") == 2
    assert _value(families, f"{p}_deferred", f"{p}_deferred_total", model="taxi", version="1") == 3


# -- outputs by task ---------------------------------------------------------------------------

SPECIES = ("Adelie", "Chinstrap", "Gentoo")


def test_a_multiclass_model_exports_each_class_probability_and_the_predicted_classes():
    monitor = Monitor(MonitoringConfig(window=10), None)
    answer = ModelAnswer.of(Task.MULTICLASS, [[0.7, 0.2, 0.1], [0.05, 0.15, 0.8], [0.6, 0.3, 0.1]], SPECIES)
    monitor.record_outputs("penguins", 2, answer, deferred=[False, False, True])
    families = _families(monitor.prometheus_text())
    p = "lifecycle_serving"
    probability = f"{p}_class_probability"
    adelie = {"model": "penguins", "version": "2", "class": "Adelie"}
    assert _value(families, probability, f"{probability}_count", **adelie) == 3
    assert _value(families, probability, f"{probability}_bucket", le="0.1", **adelie) == 1
    assert _value(families, probability, f"{probability}_bucket", le="0.6", **adelie) == 2
    assert _value(families, probability, f"{probability}_sum", model="penguins", **{"class": "Gentoo"}) == (
        pytest.approx(1.0)
    )
    predicted = f"{p}_predicted_class"
    assert _value(families, predicted, f"{predicted}_total", **{"class": "Adelie"}) == 2
    assert _value(families, predicted, f"{predicted}_total", **{"class": "Gentoo"}) == 1
    assert not [s for s in families[predicted].samples if s.labels["class"] == "Chinstrap"]
    assert not families[f"{p}_score"].samples  # the binary score histogram is not a multiclass one
    # The window's score is the top probability.
    assert monitor.metric_value("score_mean", "penguins") == (pytest.approx((0.7 + 0.8 + 0.6) / 3), 3)
    assert monitor.metric_value("deferred_fraction", "penguins") == (pytest.approx(1 / 3), 3)


def test_classes_past_the_cap_share_one_other_series():
    from ml_lifecycle.serving.observability.outputs import MAX_CLASS_SERIES, OTHER_CLASS

    classes = tuple(f"c{index}" for index in range(MAX_CLASS_SERIES + 3))
    # Row 0's top class is c0 (kept); row 1's is the last class (folded).
    scores = np.full((2, len(classes)), 0.1 / (len(classes) - 1))
    scores[0, 0], scores[1, -1] = 0.9, 0.9
    monitor = Monitor(MonitoringConfig(window=10), None)
    monitor.record_outputs("many", 1, ModelAnswer.of(Task.MULTICLASS, scores, classes))
    families = _families(monitor.prometheus_text())
    p = "lifecycle_serving"
    probability, predicted = f"{p}_class_probability", f"{p}_predicted_class"
    series = {s.labels["class"] for s in families[probability].samples}
    assert series == {*classes[:MAX_CLASS_SERIES], OTHER_CLASS}
    # Three folded classes on two rows: six observations, the last class's 0.9 among them.
    other = {"model": "many", "class": OTHER_CLASS}
    assert _value(families, probability, f"{probability}_count", **other) == 6
    assert _value(families, probability, f"{probability}_sum", **other) == pytest.approx(
        0.9 + 5 * 0.1 / (len(classes) - 1)
    )
    assert {s.labels["class"]: s.value for s in families[predicted].samples} == {"c0": 1, OTHER_CLASS: 1}


def test_a_regression_histogram_learns_its_buckets_from_the_first_predictions():
    monitor = Monitor(MonitoringConfig(window=4), None)
    p = "lifecycle_serving"
    prediction = f"{p}_prediction"
    monitor.record_outputs("tips", 1, ModelAnswer.of(Task.REGRESSION, [3.2, 17.9]))
    assert not _families(monitor.prometheus_text())[prediction].samples  # edges not chosen yet
    monitor.record_outputs("tips", 2, ModelAnswer.of(Task.REGRESSION, [9.0, 12.5, 40.0]))
    families = _families(monitor.prometheus_text())
    buckets = {s.labels["le"]: s.value for s in families[prediction].samples if s.name.endswith("_bucket")}
    # The request that fills the sample is part of it: 3.2 .. 40 in about ten round steps, 3.68 -> 5.
    edges = [float(le) for le in buckets if le != "+Inf"]
    assert edges == [0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 35.0, 40.0]
    # The held predictions are counted too, in their own versions.
    assert _value(families, prediction, f"{prediction}_count", version="1") == 2
    assert _value(families, prediction, f"{prediction}_bucket", version="1", le="5.0") == 1
    assert _value(families, prediction, f"{prediction}_count", version="2") == 3
    assert _value(families, prediction, f"{prediction}_bucket", version="2", le="40.0") == 3
    monitor.record_outputs("tips", 2, ModelAnswer.of(Task.REGRESSION, [100.0]))
    families = _families(monitor.prometheus_text())
    assert _value(families, prediction, f"{prediction}_bucket", version="2", le="40.0") == 3
    assert _value(families, prediction, f"{prediction}_bucket", version="2", le="+Inf") == 4
    assert monitor.metric_value("score_mean", "tips") == (pytest.approx((12.5 + 40 + 100 + 9) / 4), 4)


def test_configured_prediction_buckets_are_used_from_the_first_prediction():
    monitor = Monitor(MonitoringConfig(window=100, prediction_buckets=[1.0, 10.0]), None)
    monitor.record_outputs("tips", 1, ModelAnswer.of(Task.REGRESSION, [0.5, 5.0, 50.0]))
    families = _families(monitor.prometheus_text())
    prediction = "lifecycle_serving_prediction"
    assert _value(families, prediction, f"{prediction}_bucket", le="1.0") == 1
    assert _value(families, prediction, f"{prediction}_bucket", le="10.0") == 2
    assert _value(families, prediction, f"{prediction}_bucket", le="+Inf") == 3


@pytest.mark.parametrize(
    "values, edges",
    [
        (np.array([0.12, 0.93]), (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)),
        (np.array([-3.0, 7.0]), (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0)),
        (np.array([5.0, 5.0]), (4.5, 4.6, 4.7, 4.8, 4.9, 5.0, 5.1, 5.2, 5.3, 5.4, 5.5)),
        (np.array([1000.0, 26000.0, np.nan]), tuple(float(e) for e in range(0, 30000, 2500))),
    ],
)
def test_learned_edges_are_round_and_cover_the_sample(values, edges):
    from ml_lifecycle.serving.observability.outputs import nice_edges

    assert nice_edges(values) == edges


def test_a_record_with_marks_for_other_rows_is_refused():
    monitor = Monitor(MonitoringConfig(window=10), None)
    with pytest.raises(ValueError, match="deferred marks for 1 rows, the answer has 2"):
        monitor.record_outputs("taxi", 1, _binary([0.1, 0.2]), deferred=[True])


@pytest.mark.parametrize("edges, message", [([1.0, 1.0], "must increase"), ([0.0, float("inf")], "finite")])
def test_configured_prediction_buckets_must_be_finite_and_increase(edges, message):
    with pytest.raises(ValueError, match=message):
        MonitoringConfig(prediction_buckets=edges)

"""Label values clients choose stay bounded: versions and routes per model, model names, feature
names in request rows (memory measured with tracemalloc); and a NaN score leaves the window."""

from __future__ import annotations

import math
import tracemalloc

import pytest
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from ml_lifecycle.base.contracts import Task
from ml_lifecycle.config.serving import AlertRule, MonitoringConfig
from ml_lifecycle.serving.inference.answers import ModelAnswer
from ml_lifecycle.serving.observability.monitor import MAX_MODEL_LABELS, OTHER_MODEL, Monitor
from ml_lifecycle.serving.observability.tallies import MAX_ROUTE_LABELS, MAX_VERSION_LABELS, OTHER
from ml_lifecycle.serving.observability.windows import MAX_SEEN_FEATURES
from tests.unit.serving.observability.test_monitor import GOOD_ROW, SCHEMA_TEXT, _binary, _families, _value


@pytest.fixture
def schema() -> schema_pb2.Schema:
    return text_format.Parse(SCHEMA_TEXT, schema_pb2.Schema())


def test_ten_thousand_made_up_versions_and_routes_add_a_bounded_number_of_series():
    monitor = Monitor(MonitoringConfig(window=100), None)

    def record(start: int, stop: int) -> None:
        for index in range(start, stop):
            monitor.record_request("taxi", 10_000 + index, f"label:made-up-{index}", 404, 0.001)
            monitor.record_outputs("penguins", 20_000 + index, _binary([0.5]), deferred=[True])
            monitor.record_shadow("penguins", 30_000 + index, 40_000 + index, agree=True, abs_diff=0.0)

    tracemalloc.start()
    try:
        record(0, 500)
        before = tracemalloc.get_traced_memory()[0]
        record(500, 10_000)
        growth = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert growth < 64 * 1024, growth  # unbounded, it was megabytes: a series per request
    families = _families(monitor.prometheus_text())
    p = "lifecycle_serving"
    requests = families[f"{p}_requests"].samples
    # Versions and routes each distinct: the first MAX_VERSION_LABELS requests have series of
    # their own, every later one shares (other, other).
    assert len(requests) == MAX_VERSION_LABELS + 1
    (shared,) = [s for s in requests if s.labels["version"] == OTHER]
    assert (shared.labels["route"], shared.value) == (OTHER, 10_000 - MAX_VERSION_LABELS)
    assert len({s.labels["route"] for s in requests}) <= MAX_ROUTE_LABELS + 1
    penguin_versions = {
        sample.labels[key]
        for family in families.values()
        for sample in family.samples
        for key in ("version", "live_version", "shadow_version")
        if sample.labels.get("model") == "penguins" and key in sample.labels
    }
    assert len(penguin_versions) == MAX_VERSION_LABELS + 1  # per model, every family together
    assert _value(families, f"{p}_deferred", f"{p}_deferred_total", model="penguins", version=OTHER) > 9_000
    assert sum(len(family.samples) for family in families.values()) < 2_000


def test_model_names_past_the_cap_share_one_series_whichever_record_brings_them():
    monitor = Monitor(MonitoringConfig(window=10), None)
    for index in range(MAX_MODEL_LABELS + 10):
        monitor.record_shadow_not_comparable(f"model-{index}", 1, 2, 1)
    samples = _families(monitor.prometheus_text())["lifecycle_serving_shadow_not_comparable"].samples
    assert len(samples) == MAX_MODEL_LABELS + 1
    assert [s.value for s in samples if s.labels["model"] == OTHER_MODEL] == [10]


def test_unknown_feature_names_are_counted_up_to_a_cap_and_rule_features_always(schema):
    rule = AlertRule(name="label-leak", metric="input_out_of_schema_fraction:big_tipper", max=0.01)
    monitor = Monitor(MonitoringConfig(window=50, alerts=[rule]), schema)
    for index in range(MAX_SEEN_FEATURES):
        monitor.record_inputs("taxi", [{**GOOD_ROW, f"junk{index}": 1}])
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for index in range(MAX_SEEN_FEATURES, MAX_SEEN_FEATURES + 10_000):
            monitor.record_inputs("taxi", [{**GOOD_ROW, f"junk{index}": 1}])
        growth = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert growth < 64 * 1024, growth
    monitor.record_inputs("taxi", [{**GOOD_ROW, "big_tipper": 1}, {**GOOD_ROW, "late_junk": 1}])
    # Named by a rule: counted although the cap was reached; another late name is not.
    assert monitor.metric_value("input_out_of_schema_fraction:big_tipper", "taxi") == (1 / 50, 50)
    assert monitor.metric_value("input_out_of_schema_fraction:late_junk", "taxi") == (0.0, 50)
    assert monitor.metric_value("input_out_of_schema_fraction", "taxi") == (1.0, 50)  # every row still is
    (alert,) = monitor.evaluate_alerts()
    assert alert.rule == "label-leak"
    monitor.record_inputs("taxi", [GOOD_ROW] * 50)  # the window forgets them exactly
    assert monitor.metric_value("input_out_of_schema_fraction:big_tipper", "taxi") == (0.0, 50)
    assert monitor.metric_value("input_out_of_schema_fraction", "taxi") == (0.0, 50)


def test_a_nan_score_leaves_the_mean_when_it_leaves_the_window():
    monitor = Monitor(MonitoringConfig(window=2), None)
    monitor.record_outputs("tips", 1, ModelAnswer.of(Task.REGRESSION, [float("nan")]))
    assert math.isnan(monitor.metric_value("score_mean", "tips")[0])
    monitor.record_outputs("tips", 1, ModelAnswer.of(Task.REGRESSION, [1.0, 3.0]))
    assert monitor.metric_value("score_mean", "tips") == (2.0, 2)

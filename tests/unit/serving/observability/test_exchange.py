"""MetricsExchange: several Monitors as worker processes sharing a snapshot directory. Counters and
histograms add up over every worker (stopped ones included), windows over the live ones, alerts
judged on the merged numbers; broken snapshot files are skipped; one worker alone answers
exactly what its monitor answers."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from google.protobuf import text_format
from prometheus_client.parser import text_string_to_metric_families
from tensorflow_metadata.proto.v0 import schema_pb2

from ml_lifecycle.base.contracts import Task
from ml_lifecycle.config.serving import AlertRule, MonitoringConfig
from ml_lifecycle.serving.inference.answers import ModelAnswer
from ml_lifecycle.serving.observability.exchange import MetricsExchange, clear_snapshots, snapshot_path
from ml_lifecycle.serving.observability.monitor import Monitor
from ml_lifecycle.serving.observability.snapshot import (
    SnapshotError,
    merge_states,
    parse_snapshot,
    snapshot_bytes,
)
from tests.unit.serving.observability.test_monitor import GOOD_ROW, SCHEMA_TEXT

P = "lifecycle_serving"
EXCHANGE_LOGGER = "ml_lifecycle.serving.observability.exchange"


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def schema() -> schema_pb2.Schema:
    return text_format.Parse(SCHEMA_TEXT, schema_pb2.Schema())


def _workers(tmp_path, config, schema, count, clock, **options) -> list[tuple[Monitor, MetricsExchange]]:
    workers = []
    for index in range(count):
        monitor = Monitor(config, schema, clock=clock)
        workers.append((monitor, MetricsExchange(tmp_path, str(index), monitor, clock=clock, **options)))
    return workers


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    """(sample name, sorted labels) -> value of every sample; raises on malformed text."""
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            assert key not in samples, key
            samples[key] = sample.value
    return samples


def _value(text: str, name: str, **labels) -> float:
    matches = [
        value
        for (sample, sample_labels), value in _samples(text).items()
        if sample == name and all(dict(sample_labels).get(k) == v for k, v in labels.items())
    ]
    assert len(matches) == 1, (name, labels, matches)
    return matches[0]


def _traffic(monitor: Monitor, seed: int, rows: int) -> None:
    """Requests, inputs, outputs of every task, shadow comparisons and log counters; `seed` makes
    each worker's traffic its own."""
    rng = np.random.default_rng(seed)
    for i in range(rows):
        model = f"m{(i + seed) % 3}"
        route = ("stable", "canary", "version")[i % 3]
        monitor.record_request(
            model, i % 4, route, (200, 404, 500)[(i + seed) % 7 % 3], float(rng.exponential(0.01))
        )
        monitor.record_inputs(model, [GOOD_ROW, {"fare": None, "hour": 30, "zzz": 1}, {"payment_type": "x"}])
        monitor.record_outputs("m0", i % 2, ModelAnswer.of(Task.BINARY, rng.random(5)), rng.random(5) > 0.5)
        monitor.record_outputs(
            "m1", 1, ModelAnswer.of(Task.MULTICLASS, rng.dirichlet([1, 1, 1], 4), ("a", "b", "c"))
        )
        monitor.record_outputs("m2", 3, ModelAnswer.of(Task.REGRESSION, rng.normal(10, 3, 3)))
        monitor.record_shadow("m0", 1, 2, bool((i + seed) % 3), float(rng.random()))
        if i % 10 == 0:
            monitor.record_shadow_not_comparable("m1", 1, 2, 3)
    monitor.record_log_stats({"written": 5 + seed, "dropped": seed, "errors": 0, "sampled_out": 1})


RULES = [
    AlertRule(name="errors", metric="error_rate", max=0.1),
    AlertRule(name="fare-missing", metric="input_missing_fraction:fare", max=0.01),
    AlertRule(name="log-loss", metric="prediction_log_dropped", max=0),
]


@pytest.mark.parametrize("with_schema", [True, False])
def test_one_worker_alone_answers_exactly_what_its_monitor_answers(tmp_path, schema, with_schema):
    clock = Clock()
    config = MonitoringConfig(window=50, alerts=RULES)
    ((monitor, exchange),) = _workers(tmp_path, config, schema if with_schema else None, 1, clock)
    _traffic(monitor, seed=3, rows=120)
    monitor.record_outputs("m0", 1, ModelAnswer.of(Task.BINARY, [float("nan")]))  # a NaN score sum
    assert exchange.evaluate_alerts() == monitor.evaluate_alerts() != []
    assert exchange.prometheus_text() == monitor.prometheus_text()
    assert exchange.publish()  # its own file is not read back as another worker's
    assert exchange.prometheus_text() == monitor.prometheus_text()
    # A snapshot file holds the whole state: read back and merged alone, it renders the same text.
    (read,) = [parse_snapshot(path.read_bytes()) for path in tmp_path.glob("worker-*.json")]
    assert (read.worker, read.written) == ("0", clock.now)
    merged = merge_states([(read.state, True)])
    assert monitor.text_of(merged, monitor.alerts()) == monitor.prometheus_text()
    for metric in ("error_rate", "latency_p99_seconds", "input_missing_fraction", "score_mean"):
        # repr: the NaN score makes score_mean NaN, which equals nothing, itself included.
        assert repr(exchange.metric_value(metric, "m0")) == repr(monitor.metric_value(metric, "m0"))


def test_counters_histograms_and_windows_of_three_workers_equal_one_monitor_given_all_traffic(
    tmp_path, schema
):
    clock = Clock()
    config = MonitoringConfig(window=10_000, prediction_buckets=[5.0, 10.0, 15.0])
    workers = _workers(tmp_path, config, schema, 3, clock)
    everything = Monitor(config, schema, clock=clock)
    for seed, (monitor, exchange) in enumerate(workers):
        _traffic(monitor, seed, rows=40 + 10 * seed)
        _traffic(everything, seed, rows=40 + 10 * seed)
        exchange.publish()
    # The prediction log counters are each writer's latest: the sum over workers.
    everything.record_log_stats({"written": 5 + 6 + 7, "dropped": 3, "errors": 0, "sampled_out": 3})
    expected = _samples(everything.prometheus_text())
    for _, exchange in workers:  # whichever worker answers the scrape
        merged = _samples(exchange.prometheus_text())
        assert merged.keys() == expected.keys()
        for key, value in expected.items():
            assert merged[key] == pytest.approx(value, rel=1e-9), key
    _, exchange = workers[1]
    assert _value(exchange.prometheus_text(), f"{P}_prediction_log_records_total", outcome="written") == 18
    assert exchange.metric_value("latency_p99_seconds", "m1") == everything.metric_value(
        "latency_p99_seconds", "m1"
    )


def test_a_windowed_metric_covers_the_union_of_the_workers_windows(tmp_path):
    clock = Clock()
    (a, exchange_a), (b, _b) = _workers(tmp_path, MonitoringConfig(window=4), None, 2, clock)
    for _ in range(6):  # more than the window: each worker keeps its last four
        a.record_request("taxi", 1, "stable", 200, 0.001)
        b.record_request("taxi", 1, "stable", 500, 0.9)
    _b.publish()
    assert a.metric_value("error_rate", "taxi") == (0.0, 4)
    assert exchange_a.metric_value("error_rate", "taxi") == (0.5, 8)
    assert exchange_a.metric_value("latency_p50_seconds", "taxi") == (0.001, 8)
    assert exchange_a.metric_value("latency_p99_seconds", "taxi") == (0.9, 8)
    assert _value(exchange_a.prometheus_text(), f"{P}_error_rate", model="taxi") == 0.5


def test_an_alert_fires_on_the_combined_data_when_no_worker_alone_has_enough(tmp_path, caplog):
    clock = Clock()
    config = MonitoringConfig(
        window=10, alerts=[AlertRule(name="server-errors", metric="error_rate", max=0.3, min_count=6)]
    )
    (a, exchange_a), (b, exchange_b) = _workers(tmp_path, config, None, 2, clock)
    for status in (200, 500, 500, 200):
        a.record_request("taxi", 1, "stable", status, 0.01)
        b.record_request("taxi", 1, "stable", status, 0.01)
    exchange_a.publish()
    exchange_b.publish()
    assert a.evaluate_alerts() == [] and b.evaluate_alerts() == []  # 4 observations < min_count 6
    with caplog.at_level(logging.WARNING, logger="ml_lifecycle.serving.observability.alerts"):
        (alert,) = exchange_a.evaluate_alerts()
    assert (alert.rule, alert.model, alert.value, alert.since) == ("server-errors", "taxi", 0.5, clock.now)
    assert [r for r in caplog.records if "server-errors" in r.getMessage()]
    assert exchange_a.alerts() == [alert]
    assert 'rule="server-errors"' in exchange_a.prometheus_text()
    assert 'rule="server-errors"' not in a.prometheus_text()  # the monitor's own book: nothing fired
    clock.now += 5
    (again,) = exchange_a.evaluate_alerts()
    assert again.since == alert.since  # still the same alert
    (other_view,) = exchange_b.evaluate_alerts()  # the other worker judges the same numbers
    assert (other_view.value, other_view.since) == (0.5, clock.now)
    for _ in range(10):  # worker b's window forgets its errors; a's still holds two of four
        b.record_request("taxi", 1, "stable", 200, 0.01)
    exchange_b.publish()
    assert exchange_a.evaluate_alerts() == []  # 2 errors of 14: resolved
    assert exchange_a.alerts() == []


def test_a_stale_worker_keeps_its_counters_but_not_its_windows(tmp_path):
    clock = Clock()
    config = MonitoringConfig(window=100)
    (a, exchange_a), (b, exchange_b) = _workers(tmp_path, config, None, 2, clock, stale_seconds=10)
    a.record_request("taxi", 1, "stable", 200, 0.01)
    b.record_request("taxi", 1, "stable", 500, 0.01)
    b.record_request("taxi", 1, "stable", 500, 0.01)
    b.record_shadow("taxi", 1, 2, agree=False, abs_diff=0.5)
    b.record_log_stats({"dropped": 4})
    exchange_b.publish()
    clock.now += 9.9
    text = exchange_a.prometheus_text()
    assert _value(text, f"{P}_error_rate", model="taxi") == pytest.approx(2 / 3)
    assert _value(text, f"{P}_shadow_agreement", model="taxi") == 0.0
    clock.now += 0.2  # b's snapshot is now 10.1 s old: b stopped
    text = exchange_a.prometheus_text()
    assert _value(text, f"{P}_requests_total", model="taxi", status_class="5xx") == 2
    assert _value(text, f"{P}_requests_total", model="taxi", status_class="2xx") == 1
    assert _value(text, f"{P}_shadow_comparisons_total", model="taxi") == 1
    assert _value(text, f"{P}_prediction_log_records_total", outcome="dropped") == 4
    assert _value(text, f"{P}_error_rate", model="taxi") == 0.0  # a's window only
    assert f"{P}_shadow_agreement{{" not in text  # no live worker compared the pair lately
    assert exchange_a.metric_value("error_rate", "taxi") == (0.0, 1)
    assert exchange_a.metric_value("prediction_log_dropped", "") == (4.0, float("inf"))


def test_unreadable_snapshot_files_are_skipped_and_logged_once(tmp_path, caplog):
    clock = Clock()
    (a, exchange_a), (b, exchange_b) = _workers(tmp_path, MonitoringConfig(window=10), None, 2, clock)
    a.record_request("taxi", 1, "stable", 200, 0.01)
    b.record_request("taxi", 1, "stable", 200, 0.01)
    exchange_b.publish()
    good = exchange_b.path.read_bytes()
    document = json.loads(good)
    bad = {
        "garbage": b"\x00\xff not json",
        "cut": good[: len(good) // 2],
        "foreign": json.dumps({**document, "format": "someone-else/9"}).encode(),
        "renamed": good,  # worker "1"'s snapshot under another worker's name
        "negative": json.dumps({**document, "worker": "negative", "log_stats": {"dropped": -3}}).encode(),
        "list": b"[1, 2, 3]",
    }
    for worker, content in bad.items():
        snapshot_path(tmp_path, worker).write_bytes(content)
    with caplog.at_level(logging.WARNING, logger=EXCHANGE_LOGGER):
        for _ in range(2):
            text = exchange_a.prometheus_text()
            assert _value(text, f"{P}_requests_total", model="taxi") == 2  # a's and b's only
    warnings = [r.getMessage() for r in caplog.records if r.name == EXCHANGE_LOGGER]
    assert len(warnings) == len(bad)  # each file once, though read twice
    assert any("the file name says 'renamed'" in message for message in warnings)
    assert any("someone-else/9" in message for message in warnings)
    # Repaired, a file counts again.
    snapshot_path(tmp_path, "garbage").write_bytes(json.dumps({**document, "worker": "garbage"}).encode())
    assert _value(exchange_a.prometheus_text(), f"{P}_requests_total", model="taxi") == 3


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["counters"].update(requests=[["taxi", "1", "stable", 7]]), "a key of 3 labels"),
        (lambda d: d["counters"].update(unknown=[]), "unknown counter table"),
        (lambda d: d["histograms"]["latency"][0].__setitem__(-1, [1, 2]), "bucket counts"),
        (lambda d: d["windows"]["taxi"].pop("latencies"), "expected the fields"),
        (lambda d: d["windows"]["taxi"].update(rows=True), "expected a count"),
        (lambda d: d.update(model_edges={"tips": [2.0, 1.0]}), "must be finite and increase"),
    ],
)
def test_a_malformed_snapshot_is_refused_with_what_is_wrong(change, message):
    monitor = Monitor(MonitoringConfig(window=10), None)
    monitor.record_request("taxi", 1, "stable", 200, 0.01)
    document = json.loads(snapshot_bytes(monitor.state(), worker="0", pid=1, written=1.0))
    parse_snapshot(json.dumps(document).encode())  # the unchanged document is fine
    change(document)
    with pytest.raises(SnapshotError, match=message):
        parse_snapshot(json.dumps(document).encode())


def test_learned_prediction_edges_are_shared_so_histograms_add_bucket_by_bucket(tmp_path):
    clock = Clock()
    (a, exchange_a), (b, exchange_b) = _workers(tmp_path, MonitoringConfig(window=4), None, 2, clock)
    a.record_outputs("tips", 1, ModelAnswer.of(Task.REGRESSION, [3.2, 17.9, 9.0, 40.0]))  # a chooses 0..40
    b.record_outputs("tips", 1, ModelAnswer.of(Task.REGRESSION, [1.0, 2.0]))  # b holds its two
    exchange_a.publish()
    text = exchange_b.prometheus_text()  # b adopts a's edges, counting what it held
    prediction = f"{P}_prediction"
    assert _value(text, f"{prediction}_count", model="tips") == 6
    assert _value(text, f"{prediction}_bucket", model="tips", le="5.0") == 3
    assert _value(text, f"{prediction}_bucket", model="tips", le="40.0") == 6
    b.record_outputs("tips", 1, ModelAnswer.of(Task.REGRESSION, [12.0]))
    assert _value(b.prometheus_text(), f"{prediction}_bucket", model="tips", le="15.0") == 3


def test_histograms_with_different_edges_are_counted_into_the_first_workers_edges(tmp_path):
    clock = Clock()
    (a, exchange_a), (b, exchange_b) = _workers(tmp_path, MonitoringConfig(window=2), None, 2, clock)
    # Each chooses its own edges before seeing the other's: a 0..40 in steps of 5, b 100..110 by 1.
    a.record_outputs("tips", 1, ModelAnswer.of(Task.REGRESSION, [3.0, 40.0]))
    b.record_outputs("tips", 1, ModelAnswer.of(Task.REGRESSION, [100.0, 110.0]))
    b.record_outputs("tips", 1, ModelAnswer.of(Task.REGRESSION, [4.0]))
    exchange_a.publish()
    exchange_b.publish()
    for exchange in (exchange_a, exchange_b):  # both answer in worker "0"'s edges
        text = exchange.prometheus_text()
        prediction = f"{P}_prediction"
        edges = sorted(
            float(dict(labels)["le"])
            for (name, labels), _ in _samples(text).items()
            if name == f"{prediction}_bucket" and dict(labels)["le"] != "+Inf"
        )
        assert edges[0] == 0.0 and edges[-1] == 40.0
        assert _value(text, f"{prediction}_count", model="tips") == 5
        assert _value(text, f"{prediction}_sum", model="tips") == pytest.approx(257.0)
        # b's 4.0 sat in its bucket (-inf, 100]: counted at the first edge at or above 100, +Inf.
        assert _value(text, f"{prediction}_bucket", model="tips", le="5.0") == 1
        assert _value(text, f"{prediction}_bucket", model="tips", le="40.0") == 2
        assert _value(text, f"{prediction}_bucket", model="tips", le="+Inf") == 5


def test_publish_replaces_the_file_whole_and_reports_a_directory_it_cannot_write(tmp_path, caplog):
    monitor = Monitor(MonitoringConfig(window=10), None)
    exchange = MetricsExchange(tmp_path / "exchange", "7", monitor)
    for count in (1, 2):
        monitor.record_request("taxi", 1, "stable", 200, 0.01)
        assert exchange.publish()
        snapshot = parse_snapshot(exchange.path.read_bytes())
        assert snapshot.state.counters["requests"] == {("taxi", "1", "stable", "2xx"): count}
    assert [path.name for path in (tmp_path / "exchange").iterdir()] == ["worker-7.json"]  # no temp file
    assert clear_snapshots(tmp_path / "exchange") == 1
    assert not exchange.path.exists()

    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    failing = MetricsExchange(blocked, "1", monitor)
    with caplog.at_level(logging.WARNING, logger=EXCHANGE_LOGGER):
        assert failing.publish() is False
        assert failing.publish() is False
    assert len([r for r in caplog.records if "cannot publish" in r.getMessage()]) == 1


@pytest.mark.parametrize("worker", ["", "../x", "a/b", ".hidden", "x" * 101])
def test_a_worker_name_must_be_a_plain_file_name_part(tmp_path, worker):
    with pytest.raises(ValueError, match="worker name"):
        MetricsExchange(tmp_path, worker, Monitor(MonitoringConfig(), None))

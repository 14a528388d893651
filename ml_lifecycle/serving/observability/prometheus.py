"""The monitor's numbers in the Prometheus text exposition format 0.0.4 (`lifecycle_serving_*`):
the cumulative tallies as counters and histograms, the output metrics by task (`outputs.py`),
the registered alert metrics' gauges, active alerts. Rendered from a `MonitorState`, one
worker's or several workers' merged (`snapshot.py`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from ml_lifecycle.serving.observability.alerts import Alert
from ml_lifecycle.serving.observability.metrics import METRICS, Observations
from ml_lifecycle.serving.observability.outputs import OUTPUT_METRICS, output_table
from ml_lifecycle.serving.observability.snapshot import MonitorState
from ml_lifecycle.serving.observability.tallies import cumulative_buckets

METRIC_PREFIX = "lifecycle_serving"


def exposition_text(collect: Callable[[], list]) -> str:
    """The text of the families `collect()` returns, through a registry of its own (no globals)."""
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(collect))
    return generate_latest(registry).decode("utf-8")


class _Collector:
    def __init__(self, collect: Callable[[], list]) -> None:
        self._collect = collect

    def collect(self):
        return iter(self._collect())


def metric_families(
    state: MonitorState, observations: Mapping[str, Observations], alerts: Sequence[Alert]
) -> list:
    """Every family, in a fixed order; `observations` holds each model's windows, by model."""
    return [
        *_tally_families(state),
        *_output_families(state),
        *_gauge_families(observations),
        *_shadow_families(state),
        _log_family(state.log_stats),
        *_process_families(state.log_stats),
        _alert_family(alerts),
    ]


def _tally_families(state: MonitorState) -> list:
    from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

    p = METRIC_PREFIX
    requests = CounterMetricFamily(
        f"{p}_requests",
        "Requests answered, by model, version, route and HTTP status class.",
        labels=["model", "version", "route", "status_class"],
    )
    errors = CounterMetricFamily(
        f"{p}_request_errors",
        "Requests answered with a 4xx or 5xx status.",
        labels=["model", "version", "route", "status_class"],
    )
    for (model, version, route, status_class), count in sorted(state.counters["requests"].items()):
        requests.add_metric([model, version, route, status_class], count)
        if status_class in ("4xx", "5xx"):
            errors.add_metric([model, version, route, status_class], count)
    latency = HistogramMetricFamily(
        f"{p}_request_latency_seconds",
        "Request latency inside the server, from parsed request to response body.",
        labels=["model", "version", "route"],
    )
    for labels, histogram in sorted(state.histograms["latency"].items()):
        latency.add_metric(
            list(labels), cumulative_buckets(histogram, state.edges("latency", labels)), histogram[-2]
        )
    deferred = CounterMetricFamily(
        f"{p}_deferred", "Rows deferred to human review.", labels=["model", "version"]
    )
    for labels, count in sorted(state.counters["deferred"].items()):
        deferred.add_metric(list(labels), count)
    input_rows = CounterMetricFamily(f"{p}_input_rows", "Request rows checked.", labels=["model"])
    for labels, count in sorted(state.counters["input_rows"].items()):
        input_rows.add_metric(list(labels), count)
    return [requests, errors, latency, deferred, input_rows]


def _output_families(state: MonitorState) -> list:
    """One family per registered output metric, in registry order (a family without samples
    still carries its HELP and TYPE)."""
    from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

    families = []
    for metric in OUTPUT_METRICS.values():
        labels = ["model", "version", *metric.labels]
        name, table = f"{METRIC_PREFIX}_{metric.name}", output_table(metric)
        if metric.kind == "counter":
            family = CounterMetricFamily(name, metric.help, labels=labels)
            for key, count in sorted(state.counters[table].items()):
                family.add_metric(list(key), count)
        else:
            family = HistogramMetricFamily(name, metric.help, labels=labels)
            for key, histogram in sorted(state.histograms[table].items()):
                bounds = state.edges(table, key)
                family.add_metric(list(key), cumulative_buckets(histogram, bounds), histogram[-2])
        families.append(family)
    return families


def _gauge_families(observations: Mapping[str, Observations]) -> list:
    """The registered metrics' gauges: per model and feature first, then per model."""
    from prometheus_client.core import GaugeMetricFamily

    p = METRIC_PREFIX
    feature_gauges = [
        (
            metric,
            GaugeMetricFamily(
                f"{p}_{metric.feature_gauge.name}", metric.feature_gauge.help, labels=["model", "feature"]
            ),
        )
        for metric in METRICS.values()
        if metric.feature_gauge is not None
    ]
    model_gauges = [
        (
            metric,
            GaugeMetricFamily(f"{p}_{metric.model_gauge.name}", metric.model_gauge.help, labels=["model"]),
        )
        for metric in METRICS.values()
        if metric.model_gauge is not None
    ]
    for model, observed in sorted(observations.items()):
        for metric, gauge in feature_gauges:
            for feature in observed.features:
                value, _ = metric.value(observed, feature)
                if value is not None:
                    gauge.add_metric([model, feature], value)
        for metric, gauge in model_gauges:
            value, _ = metric.value(observed)
            if value is not None:
                gauge.add_metric([model], value)
    return [gauge for _, gauge in feature_gauges] + [gauge for _, gauge in model_gauges]


def _shadow_families(state: MonitorState) -> list:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    p = METRIC_PREFIX
    labels = ["model", "live_version", "shadow_version"]
    total = CounterMetricFamily(
        f"{p}_shadow_comparisons", "Shadow answers compared with the live answer.", labels=labels
    )
    agreements = CounterMetricFamily(
        f"{p}_shadow_agreements", "Shadow answers that agreed with the live answer.", labels=labels
    )
    rate = GaugeMetricFamily(
        f"{p}_shadow_agreement",
        "Share of shadow answers agreeing with the live answer over the window.",
        labels=labels,
    )
    not_comparable = CounterMetricFamily(
        f"{p}_shadow_not_comparable",
        "Shadow answers not compared with the live answer: the versions' tasks or classes differ.",
        labels=labels,
    )
    agree = state.counters["shadow_agree"]
    for key, count in sorted(state.counters["shadow"].items()):
        total.add_metric(list(key), count)
        agreements.add_metric(list(key), agree.get(key, 0))
        # Only the live workers' windows: a pair none of them compared lately has no rate.
        window_count, window_agree = state.shadow_windows.get(key, (0, 0))
        if window_count:
            rate.add_metric(list(key), window_agree / window_count)
    for key, count in sorted(state.counters["shadow_not_comparable"].items()):
        not_comparable.add_metric(list(key), count)
    return [total, agreements, rate, not_comparable]


# The prediction log writer's record outcomes; the other process counters (`record_log_stats`
# takes the server's: log partitions deleted, shadow queue outcomes as `shadow:<outcome>`,
# batcher counts as `batcher:<count>`) have families of their own.
LOG_RECORD_OUTCOMES = ("written", "sampled_out", "dropped", "errors")
_BATCHER_COUNTERS = {
    "batches": "Model calls made by the request batcher.",
    "batched_requests": "Requests answered through the batcher.",
    "timeouts": "Requests the batcher failed at serving.request_timeout_ms (answered 503).",
}


def _log_family(log_stats: Mapping[str, int]):
    from prometheus_client.core import CounterMetricFamily

    records = CounterMetricFamily(
        f"{METRIC_PREFIX}_prediction_log_records",
        "Prediction log records by outcome: written, sampled_out, dropped (queue full), errors.",
        labels=["outcome"],
    )
    for outcome, count in sorted(log_stats.items()):
        if outcome in LOG_RECORD_OUTCOMES:
            records.add_metric([outcome], count)
    return records


def _process_families(counters: Mapping[str, int]) -> list:
    """The server's own counters, summed over its workers like every other counter."""
    from prometheus_client.core import CounterMetricFamily

    families = [
        CounterMetricFamily(
            f"{METRIC_PREFIX}_prediction_log_partitions_deleted",
            "Hour partitions of the prediction log deleted by serving.logging.retention_days.",
            value=counters.get("partitions_deleted", 0),
        )
    ]
    shadow = CounterMetricFamily(
        f"{METRIC_PREFIX}_shadow_requests", "Shadow copies by outcome.", labels=["outcome"]
    )
    for key, count in sorted(counters.items()):
        if key.startswith("shadow:"):
            shadow.add_metric([key.removeprefix("shadow:")], count)
    families.append(shadow)
    for name, documentation in _BATCHER_COUNTERS.items():
        if f"batcher:{name}" in counters:
            families.append(
                CounterMetricFamily(
                    f"{METRIC_PREFIX}_batch_{name}" if name == "timeouts" else f"{METRIC_PREFIX}_{name}",
                    documentation,
                    value=counters[f"batcher:{name}"],
                )
            )
    return families


def _alert_family(alerts: Sequence[Alert]):
    from prometheus_client.core import GaugeMetricFamily

    family = GaugeMetricFamily(
        f"{METRIC_PREFIX}_alert_active", "1 for each alert rule firing.", labels=["rule", "model", "metric"]
    )
    for alert in alerts:
        family.add_metric([alert.rule, alert.model, alert.metric], 1)
    return family

"""The monitor's numbers in the Prometheus text exposition format 0.0.4 (`lifecycle_serving_*`):
the cumulative tallies as counters and histograms, the output metrics by task (`outputs.py`),
the registered alert metrics' gauges, active alerts."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from ml_lifecycle.serving.observability.alerts import Alert
from ml_lifecycle.serving.observability.metrics import METRICS, Observations
from ml_lifecycle.serving.observability.outputs import OUTPUT_METRICS, OutputTallies
from ml_lifecycle.serving.observability.tallies import (
    LATENCY_BUCKETS,
    ServerTallies,
    cumulative_buckets,
)

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
    tallies: ServerTallies,
    outputs: OutputTallies,
    observations: Mapping[str, Observations],
    log_stats: Mapping[str, int],
    alerts: Sequence[Alert],
) -> list:
    """Every family, in a fixed order; `observations` holds each model's windows, by model."""
    return [
        *_tally_families(tallies),
        *_output_families(outputs),
        *_gauge_families(observations),
        *_shadow_families(tallies),
        _log_family(log_stats),
        _alert_family(alerts),
    ]


def _tally_families(tallies: ServerTallies) -> list:
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
    for (model, version, route, status_class), count in sorted(tallies.requests.items()):
        requests.add_metric([model, version, route, status_class], count)
        if status_class in ("4xx", "5xx"):
            errors.add_metric([model, version, route, status_class], count)
    latency = HistogramMetricFamily(
        f"{p}_request_latency_seconds",
        "Request latency inside the server, from parsed request to response body.",
        labels=["model", "version", "route"],
    )
    for labels, histogram in sorted(tallies.latency.items()):
        latency.add_metric(list(labels), cumulative_buckets(histogram, LATENCY_BUCKETS), histogram[-2])
    deferred = CounterMetricFamily(
        f"{p}_deferred", "Rows deferred to human review.", labels=["model", "version"]
    )
    for labels, count in sorted(tallies.deferred.items()):
        deferred.add_metric(list(labels), count)
    input_rows = CounterMetricFamily(f"{p}_input_rows", "Request rows checked.", labels=["model"])
    for model, count in sorted(tallies.input_rows.items()):
        input_rows.add_metric([model], count)
    return [requests, errors, latency, deferred, input_rows]


def _output_families(outputs: OutputTallies) -> list:
    """One family per registered output metric, in registry order (a family without samples
    still carries its HELP and TYPE)."""
    from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

    families = []
    for metric in OUTPUT_METRICS.values():
        labels = ["model", "version", *metric.labels]
        name = f"{METRIC_PREFIX}_{metric.name}"
        if metric.kind == "counter":
            family = CounterMetricFamily(name, metric.help, labels=labels)
            for key, count in sorted(outputs.series[metric.name].items()):
                family.add_metric(list(key), count)
        else:
            family = HistogramMetricFamily(name, metric.help, labels=labels)
            for key, histogram in sorted(outputs.series[metric.name].items()):
                bounds = outputs.buckets(metric, key[0])
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


def _shadow_families(tallies: ServerTallies) -> list:
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
    for key, count in sorted(tallies.shadow.items()):
        total.add_metric(list(key), count)
        agreements.add_metric(list(key), tallies.shadow_agree[key])
        window = tallies.shadow_pairs[key].items
        rate.add_metric(list(key), sum(agree for agree, _ in window) / len(window))
    for key, count in sorted(tallies.shadow_not_comparable.items()):
        not_comparable.add_metric(list(key), count)
    return [total, agreements, rate, not_comparable]


def _log_family(log_stats: Mapping[str, int]):
    from prometheus_client.core import CounterMetricFamily

    records = CounterMetricFamily(
        f"{METRIC_PREFIX}_prediction_log_records",
        "Prediction log records by outcome: written, sampled_out, dropped (queue full), errors.",
        labels=["outcome"],
    )
    for outcome, count in sorted(log_stats.items()):
        records.add_metric([outcome], count)
    return records


def _alert_family(alerts: Sequence[Alert]):
    from prometheus_client.core import GaugeMetricFamily

    family = GaugeMetricFamily(
        f"{METRIC_PREFIX}_alert_active", "1 for each alert rule firing.", labels=["rule", "model", "metric"]
    )
    for alert in alerts:
        family.add_metric([alert.rule, alert.model, alert.metric], 1)
    return family

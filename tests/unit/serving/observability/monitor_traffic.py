"""Shared by the rules-file and dashboard tests: a real `Monitor` after traffic that gives every
exported family samples, the metric names a PromQL text reads, and the real `promtool`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from google.protobuf import text_format
from prometheus_client.parser import text_string_to_metric_families
from tensorflow_metadata.proto.v0 import schema_pb2

from ml_lifecycle.base.contracts import Task
from ml_lifecycle.config.serving import AlertRule, MonitoringConfig
from ml_lifecycle.serving.inference.answers import ModelAnswer
from ml_lifecycle.serving.observability.monitor import Monitor

# fare: required float; payment_type: optional string with a domain; hour: required int 0..23.
SCHEMA_TEXT = """
feature { name: "fare" type: FLOAT presence { min_fraction: 1.0 } }
feature { name: "payment_type" type: BYTES domain: "payment_type" presence { min_count: 1 } }
feature { name: "hour" type: INT int_domain { min: 0 max: 23 } presence { min_fraction: 1.0 } }
string_domain { name: "payment_type" value: "Cash" value: "Credit Card" }
"""
GOOD_ROW = {"fare": 10.5, "payment_type": "Cash", "hour": 5}
# PromQL metric names are identifiers; every exported one starts with this.
METRIC_NAME = re.compile(r"\blifecycle_serving_[A-Za-z0-9_]+")


def serving_schema() -> schema_pb2.Schema:
    return text_format.Parse(SCHEMA_TEXT, schema_pb2.Schema())


def monitor_with_every_series() -> Monitor:
    """A monitor whose every exported family has samples: binary, multiclass and regression
    models, 2xx/4xx/5xx answers, missing and out-of-schema inputs, deferred rows, shadow
    comparisons (comparable or not), prediction log counters, an active alert."""
    config = MonitoringConfig(
        window=20, alerts=[AlertRule(name="any-error", metric="error_rate", max=0.0, min_count=1)]
    )
    monitor = Monitor(config, serving_schema())
    for status in (200, 200, 404, 500):
        monitor.record_request("taxi", 7, "stable", status, 0.004)
    monitor.record_request("taxi", 8, "canary", 200, 0.02)
    monitor.record_inputs("taxi", [GOOD_ROW, {"fare": None, "payment_type": "Bitcoin", "hour": 5}])
    monitor.record_outputs("taxi", 7, ModelAnswer.of(Task.BINARY, [0.2, 0.55]), deferred=[False, True])
    monitor.record_shadow("taxi", 7, 8, agree=True, abs_diff=0.05)
    monitor.record_shadow_not_comparable("taxi", 7, 9, rows=3)
    monitor.record_request("iris", 1, "stable", 200, 0.003)
    monitor.record_outputs(
        "iris", 1, ModelAnswer.of(Task.MULTICLASS, [[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], ("a", "b", "c"))
    )
    # More rows than the window: a regression model's learned bucket edges are chosen from them.
    monitor.record_request("fares", 3, "stable", 200, 0.002)
    monitor.record_outputs("fares", 3, ModelAnswer.of(Task.REGRESSION, [[float(v)] for v in range(25)]))
    monitor.record_log_stats({"written": 5, "sampled_out": 1, "dropped": 2, "errors": 1})
    assert monitor.evaluate_alerts(), "the traffic above should fire the any-error alert"
    return monitor


def exported_sample_names(text: str) -> set[str]:
    """The sample names (`_total`, `_bucket`, ... included) of an exposition text that has samples."""
    return {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}


def metric_names(promql: str) -> set[str]:
    return set(METRIC_NAME.findall(promql))


def promtool() -> str:
    """The promtool binary; skips without it unless LIFECYCLE_REQUIRE_PROMTOOL=1 (CI), then fails."""
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("LIFECYCLE_REQUIRE_PROMTOOL") == "1":
            pytest.fail(
                "promtool not found, and LIFECYCLE_REQUIRE_PROMTOOL=1 (Debian: apt-get install prometheus)"
            )
        pytest.skip("promtool not found (Debian: apt-get install --no-install-recommends prometheus)")
    return found


def run_promtool(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [promtool(), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )

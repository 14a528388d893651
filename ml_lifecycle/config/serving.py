"""The server's typed config: the `serving:` section of the project YAML.

Every default lives here. The rollout state (which version is stable, canary, shadow, blue or
green) changes at run time through `lifecycle rollout`; the values here are only where it starts.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from ml_lifecycle.config.strict import StrictModel


class PredictionLogConfig(StrictModel):
    enabled: bool = True
    # Share of requests written as PredictionLog records (0..1).
    sample_rate: float = Field(1.0, ge=0.0, le=1.0)
    # Directory for hourly-partitioned TFRecord files; default <work_dir>/prediction_logs.
    directory: str = ""
    # Records waiting for the writer thread; beyond this many, or this many bytes of encoded
    # records, they are dropped and counted, never blocking.
    max_queue: int = Field(10_000, ge=1)
    max_queue_bytes: int = Field(64 * 1024 * 1024, ge=1024)
    # Hour partitions (<YYYY-MM-DD>/<HH> directories) older than this are deleted whole, checked by the
    # writer every hour and at start; None keeps every partition.
    retention_days: float | None = Field(None, gt=0)

    def resolve_directory(self, work_dir: str | Path) -> Path:
        return Path(self.directory) if self.directory else Path(work_dir) / "prediction_logs"


# Metric names an alert rule may watch (ml_lifecycle/serving/observability/metrics.py computes
# them per model over the last `monitoring.window` observations). A `:<feature>` suffix selects
# one input feature.
ALERT_METRICS = (
    "error_rate",  # share of requests answered 5xx
    "client_error_rate",  # share of requests answered 4xx
    "latency_p50_seconds",
    "latency_p99_seconds",
    "input_missing_fraction",  # the most-missing feature's share; `:<feature>` for one feature
    "input_out_of_schema_fraction",  # rows with any value outside the SERVING schema; `:<feature>`
    "score_mean",  # binary P(class 1), multiclass top-class probability, regression the value
    "deferred_fraction",
    "shadow_agreement",  # share of shadow answers agreeing with the live one
    "shadow_abs_diff_mean",
    "prediction_log_dropped",  # records dropped by the log writer since start (queue full)
    "prediction_log_errors",  # records lost to write errors since start
)
_PER_FEATURE_METRICS = ("input_missing_fraction", "input_out_of_schema_fraction")


class AlertRule(StrictModel):
    """Fires when `metric` (a name the monitor exposes) is above `max` or below `min`."""

    name: str
    metric: str
    max: float | None = None
    min: float | None = None
    # Only judged once the metric's window holds at least this many observations.
    min_count: int = 50
    # Judge only this model; by default every model the server has seen, one alert per model.
    model: str | None = None

    @model_validator(mode="after")
    def _bound(self) -> AlertRule:
        if self.max is None and self.min is None:
            raise ValueError(f"alert {self.name!r}: give max or min")
        base, sep, feature = self.metric.partition(":")
        if base not in ALERT_METRICS or (sep and (base not in _PER_FEATURE_METRICS or not feature)):
            raise ValueError(
                f"alert {self.name!r}: unknown metric {self.metric!r}; expected one of "
                f"{list(ALERT_METRICS)} (input_missing_fraction and input_out_of_schema_fraction "
                "may name a feature: input_missing_fraction:fare)"
            )
        return self


class MonitoringConfig(StrictModel):
    # Input/output metrics are computed over the last `window` requests' rows.
    window: int = Field(1000, ge=1)
    alerts: list[AlertRule] = Field(default_factory=list)
    # Bucket edges of a regression model's `lifecycle_serving_prediction` histogram, increasing.
    # Empty: chosen once per model from its first predictions (see observability/outputs.py).
    prediction_buckets: list[float] = Field(default_factory=list)

    @field_validator("prediction_buckets")
    @classmethod
    def _increasing(cls, value: list[float]) -> list[float]:
        if any(not math.isfinite(edge) for edge in value):
            raise ValueError(f"serving.monitoring.prediction_buckets: edges must be finite, got {value}")
        if any(low >= high for low, high in zip(value, value[1:], strict=False)):
            raise ValueError(f"serving.monitoring.prediction_buckets: edges must increase, got {value}")
        return value


class HumanReviewConfig(StrictModel):
    """Which predictions a person reviews (serving/review_rule.py applies it per task).

    assist: return every prediction and flag it for review; full: no human in the loop; partial:
    defer the uncertain ones, by the model's task: binary, a score inside [defer_low, defer_high];
    multiclass, a top-class probability below `min_confidence`; regression, a value inside
    `value_band` (without a band a regression model defers nothing).
    """

    automation: Literal["assist", "partial", "full"] = "full"
    defer_low: float = 0.4
    defer_high: float = 0.6
    min_confidence: float = Field(0.6, ge=0.0, le=1.0)
    # [low, high] in the label's units, edges inside; None: no band.
    value_band: tuple[float, float] | None = None
    # SQLite file holding the review queue; default <work_dir>/review/queue.sqlite.
    queue_path: str = ""

    def resolve_queue_path(self, work_dir: str | Path) -> Path:
        return Path(self.queue_path) if self.queue_path else Path(work_dir) / "review" / "queue.sqlite"

    @model_validator(mode="after")
    def _band(self) -> HumanReviewConfig:
        if not 0.0 <= self.defer_low <= self.defer_high <= 1.0:
            raise ValueError("serving.review: need 0 <= defer_low <= defer_high <= 1")
        if self.value_band is not None:
            low, high = self.value_band
            if not (math.isfinite(low) and math.isfinite(high) and low <= high):
                raise ValueError(
                    "serving.review.value_band: expected [low, high] with low <= high, "
                    f"got {list(self.value_band)}"
                )
        return self


class VersionPolicyConfig(StrictModel):
    """TF Serving's `model_version_policy`: which pushed versions are loaded."""

    # latest: the newest `num_versions`; all: every version on disk; specific: exactly `versions`.
    kind: Literal["latest", "all", "specific"] = "latest"
    # Two by default, so a canary, shadow or blue/green pair has both versions in memory.
    num_versions: int = Field(2, ge=1)
    versions: list[int] = Field(default_factory=list)

    @model_validator(mode="after")
    def _specific(self) -> VersionPolicyConfig:
        if self.kind == "specific" and not self.versions:
            raise ValueError("serving.version_policy: kind 'specific' needs a list of versions")
        return self


class RolloutConfig(StrictModel):
    """Where routing starts; `lifecycle rollout` changes it at run time and the state file keeps it."""

    # What a newly pushed version does once it is loaded and warmed up: serve (becomes stable, as
    # TF Serving's latest policy does), canary (takes `canary_fraction` of traffic), shadow (gets
    # copies of live requests), or hold (loaded, reachable by version only).
    on_new_version: Literal["serve", "canary", "shadow", "hold"] = "serve"
    canary_fraction: float = Field(0.1, ge=0.0, le=1.0)
    # Requests with the same value of this header go to the same version (canary stickiness).
    routing_key_header: str = "X-Routing-Key"
    # Shadow requests waiting for the shadow model; beyond this many, or this many bytes of request
    # columns, they are dropped and counted.
    shadow_queue: int = Field(1000, ge=1)
    shadow_queue_bytes: int = Field(64 * 1024 * 1024, ge=1024)
    # With several workers, each re-reads the rollout state file this often: a change made on the
    # admin listener reaches every worker within this time (plus loading a version it names
    # that the worker has not loaded yet; until then the worker keeps routing on the old state).
    state_poll_seconds: float = Field(0.5, gt=0)


class BatchingConfig(StrictModel):
    """Merges concurrent predict calls on the same version and signature into one model call."""

    enabled: bool = True
    # Requests of this many rows or more run alone. 1024 lets concurrent 256-row requests merge:
    # measured on the taxi model, a 1024-row call costs ~2.1x the CPU of a 256-row call (~1.15
    # core-ms per 256 rows instead of 2.15 in that run).
    max_batch_rows: int = Field(1024, ge=1)
    # How long the first request of a batch waits for company; 0 only merges requests that are
    # already waiting while the previous batch runs.
    max_wait_ms: float = Field(0.0, ge=0.0)


LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
PrivacyPolicy = Literal["drop", "hash", "keep"]


class AdminConfig(StrictModel):
    """The admin listener (`/v1/admin/...`, what `lifecycle rollout` talks to): its own port,
    loopback by default, never the serving port."""

    host: str = "127.0.0.1"
    port: int = Field(8502, ge=0, le=65535)
    # Environment variable holding the bearer token. Required (the server refuses to start without
    # it) whenever `host` is not loopback; when set on loopback the token is required there too.
    token_env: str = ""

    @property
    def on_loopback(self) -> bool:
        return self.host in LOOPBACK_HOSTS


class ServingConfig(StrictModel):
    host: str = "127.0.0.1"
    port: int = Field(8501, ge=0, le=65535)
    # Worker processes sharing the serving port, each with its own copy of the models; 0: one
    # per core this process may run on.
    workers: int = Field(0, ge=0, le=64)
    admin: AdminConfig = AdminConfig()
    # Largest request body accepted, in bytes.
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1)
    # Request bodies held at once by one worker, all connections together; past it, 503.
    max_buffered_body_bytes: int = Field(256 * 1024 * 1024, ge=1)
    # Request line and headers of one request; past it, 431 and the connection is closed.
    max_header_bytes: int = Field(64 * 1024, ge=1024)
    # Rows (instances or examples) one request may carry; more is a 413.
    max_rows_per_request: int = Field(10_000, ge=1)
    # Open connections per worker; past this, new connections are closed at once.
    max_connections: int = Field(512, ge=1)
    # A client must send a request's headers within this, and its body within body_timeout
    # once the headers are in; otherwise the connection is closed (408 for a slow body).
    header_timeout_seconds: float = Field(10.0, gt=0)
    body_timeout_seconds: float = Field(30.0, gt=0)
    # Idle keep-alive connections are closed after this.
    idle_timeout_seconds: float = Field(30.0, gt=0)
    # A request waiting longer than this for its model call (queued in the batcher or running)
    # is answered 503; the model call itself is not interrupted.
    request_timeout_ms: float = Field(10_000.0, gt=0)
    # SIGTERM: stop accepting, let in-flight requests finish for at most this long, flush the
    # logs, exit.
    drain_seconds: float = Field(30.0, gt=0)
    # Per input feature, what prediction logs and the review queue keep of it: keep (default),
    # drop (never written), hash (HMAC-SHA256 of the value, hex, keyed by `privacy_key_env`).
    privacy: dict[str, PrivacyPolicy] = Field(default_factory=dict)
    # Environment variable holding the HMAC key for `hash`; the server refuses to start when a
    # feature is hashed and it is unset or empty.
    privacy_key_env: str = "LIFECYCLE_PRIVACY_KEY"
    version_policy: VersionPolicyConfig = VersionPolicyConfig()
    # TF Serving's `version_labels`: fixed label -> version. The rollout labels (stable, canary,
    # shadow, blue, green) come from the rollout state and take precedence.
    version_labels: dict[str, int] = Field(default_factory=dict)
    rollout: RolloutConfig = RolloutConfig()
    batching: BatchingConfig = BatchingConfig()
    # How often the serving directory is scanned for newly pushed versions, in seconds.
    poll_seconds: float = Field(2.0, gt=0)
    # Rollout state files (one JSON per model); default <work_dir>/serving_state.
    state_dir: str = ""
    # The input monitor checks at most this many rows of each request: its checks are per-row
    # Python (~30 us a row), and a sample keeps the windowed fractions unbiased.
    monitor_rows_per_request: int = Field(8, ge=1)
    logging: PredictionLogConfig = PredictionLogConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    review: HumanReviewConfig = HumanReviewConfig()

    @model_validator(mode="after")
    def _distinct_ports(self) -> ServingConfig:
        if self.port and self.admin.port == self.port:
            raise ValueError(
                f"serving.admin.port {self.admin.port} is the serving port: admin needs a listener of its own"
            )
        return self

    def resolve_workers(self) -> int:
        """`workers`, with 0 meaning one per core this process may run on."""
        if self.workers:
            return self.workers
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

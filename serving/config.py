"""The server's typed config: the `serving:` section of the project YAML.

Every default lives here. The rollout state (which version is stable, canary, shadow, blue or
green) changes at run time through `lifecycle rollout`; the values here are only where it starts.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from datasets.config import _Strict


class PredictionLogConfig(_Strict):
    enabled: bool = True
    # Share of requests written as PredictionLog records (0..1).
    sample_rate: float = Field(1.0, ge=0.0, le=1.0)
    # Directory for hourly-partitioned TFRecord files; default <work_dir>/prediction_logs.
    directory: str = ""
    # Records waiting for the writer thread; beyond this they are dropped and counted, never blocking.
    max_queue: int = 10_000


class AlertRule(_Strict):
    """Fires when `metric` (a name the monitor exposes) is above `max` or below `min`."""

    name: str
    metric: str
    max: float | None = None
    min: float | None = None
    # Only judged once the metric's window holds at least this many observations.
    min_count: int = 50

    @model_validator(mode="after")
    def _bound(self) -> AlertRule:
        if self.max is None and self.min is None:
            raise ValueError(f"alert {self.name!r}: give max or min")
        return self


class MonitoringConfig(_Strict):
    # Input/output metrics are computed over the last `window` requests' rows.
    window: int = 1000
    alerts: list[AlertRule] = Field(default_factory=list)


class HumanReviewConfig(_Strict):
    # assist: return every prediction and flag it for review; partial: defer predictions whose
    # score falls inside [defer_low, defer_high]; full: no human in the loop.
    automation: Literal["assist", "partial", "full"] = "full"
    defer_low: float = 0.4
    defer_high: float = 0.6
    # SQLite file holding the review queue; default <work_dir>/review/queue.sqlite.
    queue_path: str = ""

    @model_validator(mode="after")
    def _band(self) -> HumanReviewConfig:
        if not 0.0 <= self.defer_low <= self.defer_high <= 1.0:
            raise ValueError("serving.review: need 0 <= defer_low <= defer_high <= 1")
        return self


class ServingConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = 8501
    # Largest request body accepted, in bytes.
    max_body_bytes: int = 10 * 1024 * 1024
    logging: PredictionLogConfig = PredictionLogConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    review: HumanReviewConfig = HumanReviewConfig()

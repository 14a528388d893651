"""The prediction log's bounds: retention deletes whole expired hour partitions (judged by an
injected clock, never by sleeping), and the queue is bounded in bytes as well as records."""

from __future__ import annotations

import calendar
import logging
import os
import time
from pathlib import Path

import numpy as np

from ml_lifecycle.config.serving import PredictionLogConfig
from ml_lifecycle.serving.observability.log_records import LoggedPrediction, estimated_bytes
from ml_lifecycle.serving.observability.prediction_log import (
    RETENTION_SWEEP_S,
    PredictionLogWriter,
    read_prediction_logs,
)
from tests.unit.serving.fakes import StalledWriter

# 2026-01-01 00:30 UTC; with one day of retention the cutoff is 2025-12-31 00:30.
NOW = float(calendar.timegm((2026, 1, 1, 0, 30, 0)))
LOGGER = "ml_lifecycle.serving.observability.prediction_log"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _record(time_s: float, **changes) -> LoggedPrediction:
    fields = dict(
        model="taxi",
        version=1,
        signature_name="serving_raw",
        method="predict",
        inputs={"fare": [10.5]},
        outputs={"outputs": [[0.8]]},
        route="stable",
        latency_ms=1.0,
        time_s=time_s,
    )
    fields.update(changes)
    return LoggedPrediction(**fields)


def _partition(root: Path, date: str, hour: str) -> Path:
    folder = root / date / hour
    folder.mkdir(parents=True)
    (folder / f"predictions-20000101T000000.000000-{os.getpid() + 1}-0001.tfrecord").write_bytes(b"old")
    return folder


def _wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the writer thread did not get there"
        time.sleep(0.005)


def test_at_start_expired_partitions_are_deleted_and_the_rest_kept(tmp_path):
    expired = [
        _partition(tmp_path, "2025-12-29", "05"),
        _partition(tmp_path, "2025-12-30", "23"),  # ended 2025-12-31 00:00, before the cutoff
    ]
    kept = [_partition(tmp_path, "2025-12-31", "00")]  # ends 01:00: holds records within retention
    # Today's directory, empty as a writer leaves it between making the date and the hour.
    today = tmp_path / "2026-01-01"
    today.mkdir()
    strangers = [tmp_path / "notes", tmp_path / "2025-02-30" / "05", tmp_path / "2025-12-29-old"]
    for folder in strangers:
        folder.mkdir(parents=True)

    writer = PredictionLogWriter(PredictionLogConfig(retention_days=1), tmp_path, clock=Clock(NOW))
    writer.close()

    assert not any(folder.exists() for folder in expired)
    # The emptied past days are gone; a day with a partition left stays.
    assert not (tmp_path / "2025-12-29").exists() and not (tmp_path / "2025-12-30").exists()
    assert all(folder.exists() for folder in [*kept, *strangers, today])
    assert writer.stats()["partitions_deleted"] == 2


def test_without_retention_nothing_is_deleted(tmp_path):
    old = _partition(tmp_path, "2020-01-01", "00")
    writer = PredictionLogWriter(PredictionLogConfig(), tmp_path, clock=Clock(NOW))
    writer.close()
    assert old.exists() and writer.stats()["partitions_deleted"] == 0


def test_the_hourly_sweep_spares_the_partition_being_written(tmp_path):
    clock = Clock(NOW)
    writer = PredictionLogWriter(PredictionLogConfig(retention_days=1), tmp_path, clock=clock)
    # A record of an expired hour (a replay, a wrong client clock): its partition is open now.
    old_time = float(calendar.timegm((2025, 12, 20, 10, 15, 0)))
    writer.submit(_record(old_time))
    _wait_for(lambda: writer.stats()["written"] == 1)  # the start sweep ran before this record
    other = _partition(tmp_path, "2025-12-21", "07")
    writer.submit(_record(old_time + 1))
    _wait_for(lambda: writer.stats()["written"] == 2)
    assert other.exists(), "swept before the hour was up"

    clock.now = NOW + RETENTION_SWEEP_S
    writer.submit(_record(old_time + 2))
    writer.close()

    assert not other.exists() and writer.stats()["partitions_deleted"] == 1
    assert (tmp_path / "2025-12-20" / "10").exists()
    assert len(list(read_prediction_logs(tmp_path))) == 3


def test_another_process_deleting_first_is_not_an_error(tmp_path, monkeypatch, caplog):
    raced = _partition(tmp_path, "2025-12-01", "03")
    _partition(tmp_path, "2025-12-02", "04")
    real_unlink = os.unlink

    def another_process_was_first(path, *, dir_fd=None):
        real_unlink(path, dir_fd=dir_fd)
        real_unlink(path, dir_fd=dir_fd)  # FileNotFoundError, as if the other process won

    writer = PredictionLogWriter(
        PredictionLogConfig(retention_days=1), tmp_path / "absent-yet", clock=Clock(NOW)
    )
    writer.close()  # a directory not made yet: nothing to do, nothing raised
    writer = PredictionLogWriter(PredictionLogConfig(retention_days=1), tmp_path, clock=Clock(NOW))
    writer.close()
    monkeypatch.setattr(os, "unlink", another_process_was_first)
    _partition(tmp_path, "2025-12-03", "05")
    with caplog.at_level(logging.ERROR, logger=LOGGER):
        deleted = writer.delete_expired_partitions(NOW)
    monkeypatch.undo()

    assert deleted == 1 and not raced.exists() and list(tmp_path.iterdir()) == []
    assert writer.stats()["errors"] == 0 and not caplog.records


def test_a_partition_that_cannot_be_deleted_is_logged_once_and_kept(tmp_path, monkeypatch, caplog):
    stuck = [_partition(tmp_path, "2025-12-01", "03"), _partition(tmp_path, "2025-12-01", "04")]

    def refused(path, *, dir_fd=None):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(os, "unlink", refused)
    writer = PredictionLogWriter(PredictionLogConfig(retention_days=1), tmp_path, clock=Clock(NOW))
    with caplog.at_level(logging.ERROR, logger=LOGGER):
        writer.close()
    monkeypatch.undo()
    assert all(folder.exists() for folder in stuck)
    assert writer.stats()["partitions_deleted"] == 0 and writer.stats()["errors"] == 0
    assert len([r for r in caplog.records if "expired partition" in r.getMessage()]) == 1


def test_the_queue_is_bounded_in_bytes_dropping_never_blocking(tmp_path):
    bound = 4096
    writer = StalledWriter(PredictionLogConfig(max_queue=1000, max_queue_bytes=bound), tmp_path)
    big = _record(NOW, inputs={"note": ["x" * 1000], "fare": [1.5]})
    size = estimated_bytes(big)
    assert 1000 < size < bound // 2
    writer.submit(big)
    assert writer.started.wait(timeout=30)  # held by the writer: its bytes still count
    fit = (bound - size) // size
    started = time.monotonic()
    for _ in range(fit + 3):
        writer.submit(big)
    assert time.monotonic() - started < 5
    assert writer.stats()["dropped"] == 3 and writer.queued_bytes() == (1 + fit) * size
    writer.release.set()
    writer.close()
    assert writer.stats()["written"] == 1 + fit and writer.queued_bytes() == 0
    # Bytes free again once written: a record fits after the queue drained.
    with PredictionLogWriter(PredictionLogConfig(max_queue_bytes=1024), tmp_path / "small") as small:
        small.submit(big)  # alone bigger than the bound: dropped
        small.submit(_record(NOW))
    assert small.stats()["dropped"] == 1 and small.stats()["written"] == 1


def test_record_sizes_follow_numpy_bytes_text_and_examples():
    columns = _record(NOW, inputs={"fare": np.zeros((100, 1), np.float32)}, outputs={"o": np.zeros((100, 2))})
    assert estimated_bytes(columns) == 100 * 4 + 100 * 2 * 8
    texts = _record(NOW, inputs={"payment": ["Cash", None, "Credit Card"]}, outputs={})
    assert estimated_bytes(texts) == 3 * 8 + len("Cash") + len("Credit Card")
    examples = _record(NOW, method="classify", inputs={"examples": [b"a" * 300, b"b" * 200]}, outputs={})
    assert estimated_bytes(examples) == 2 * 8 + 500

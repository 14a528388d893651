"""Prediction logs: every sampled request/response as a TF Serving `PredictionLog` record.

TF Serving's open-source build has no request logger (tensorflow/serving#408); this one writes
the records its logging protos describe, so tools that read TF Serving logs (and its warmup
format) read ours. Files are TFRecord, partitioned by the hour of the request in UTC:

    <directory>/<YYYY-MM-DD>/<HH>/predictions-<YYYYMMDDTHHMMSS.ffffff>-<pid>-<seq>.tfrecord

A request thread only samples and enqueues (`submit` never blocks and never raises); one
background thread converts and writes. The queue is bounded in records (`max_queue`) and in
bytes (`max_queue_bytes`, each record's size estimated at submit, `log_records.estimated_bytes`):
past either bound the record is dropped and counted. A write error (full disk, permission, a
file where a directory should be) loses the record, is counted and is logged once per kind of
error.

Retention (`retention_days`): the writer thread deletes whole hour partitions whose hour ended
longer ago than that, at start and then about once an hour, never the partition it is writing,
and a date directory once its day is past and it is empty. Several worker processes write under
one directory (each its own files: the name holds the pid) and each sweeps: a partition another
process deleted first is not an error.

The record format is `log_records.py`.
"""

from __future__ import annotations

import calendar
import logging
import math
import os
import queue
import random
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from tensorflow_serving.apis import prediction_log_pb2

from ml_lifecycle.config.serving import PredictionLogConfig
from ml_lifecycle.serving.observability.log_records import (
    LoggedPrediction,
    estimated_bytes,
    to_prediction_log,
)

_LOG = logging.getLogger(__name__)
_STOP = object()
FILE_SUFFIX = ".tfrecord"
HOUR_S = 3600.0
DAY_S = 24 * HOUR_S
# How often the writer thread looks for expired partitions ("about once an hour").
RETENTION_SWEEP_S = HOUR_S
_DATE_DIRECTORY = re.compile(r"\d{4}-\d{2}-\d{2}")
_HOUR_DIRECTORY = re.compile(r"\d{2}")


class PredictionLogWriter:
    """Samples, queues and writes `LoggedPrediction`s as PredictionLog TFRecords (see module doc)."""

    def __init__(
        self,
        config: PredictionLogConfig,
        directory: Path,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._directory = Path(directory)
        self._rng = rng or random.Random()
        # The wall clock retention is judged by (tests pass their own).
        self._clock = clock
        self._retention_s = None if config.retention_days is None else config.retention_days * DAY_S
        self._queue: queue.Queue = queue.Queue(maxsize=config.max_queue)
        self._lock = threading.Lock()
        self._counts = {"written": 0, "sampled_out": 0, "dropped": 0, "errors": 0, "partitions_deleted": 0}
        # Estimated bytes of the records queued or being written (under _lock).
        self._queued_bytes = 0
        self._error_kinds_logged: set[str] = set()
        self._closed = False
        # Writer-thread state only.
        self._file = None
        self._file_partition: tuple[str, str] | None = None
        self._unflushed = 0
        self._file_sequence = 0
        self._next_sweep_s = -math.inf
        self._thread = threading.Thread(target=self._run, name="prediction-log-writer", daemon=True)
        self._thread.start()

    # -- request side -------------------------------------------------------------------------

    def submit(self, record: LoggedPrediction) -> None:
        """Samples and enqueues `record`; never blocks, never raises."""
        try:
            if not self._config.enabled:
                return
            if self._config.sample_rate < 1.0 and self._rng.random() >= self._config.sample_rate:
                self._count("sampled_out")
                return
            if self._closed:
                self._count("dropped")
                return
            size = estimated_bytes(record)
            with self._lock:
                if self._queued_bytes + size > self._config.max_queue_bytes:
                    self._counts["dropped"] += 1
                    return
                self._queued_bytes += size
            try:
                self._queue.put_nowait((record, size))
            except queue.Full:
                self._release(size)
                self._count("dropped")
        except Exception:  # a request must never fail because of its log record
            _LOG.exception("prediction log: could not enqueue a record")
            self._count("dropped")

    def stats(self) -> dict[str, int]:
        """Records written, sampled out, dropped (queue full by count or bytes, or closed) and lost
        to write errors; hour partitions this process deleted for retention."""
        with self._lock:
            return dict(self._counts)

    def queued_bytes(self) -> int:
        """Estimated bytes of the records waiting or being written."""
        with self._lock:
            return self._queued_bytes

    def close(self, timeout: float = 5.0) -> None:
        """Writes what is queued (for up to `timeout` seconds), then closes the current file."""
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + timeout
        try:
            self._queue.put(_STOP, timeout=max(timeout, 0.0))
        except queue.Full:
            _LOG.warning("prediction log: queue still full after %.1f s; closing anyway", timeout)
        self._thread.join(max(deadline - time.monotonic(), 0.0))
        if self._thread.is_alive():
            _LOG.warning(
                "prediction log: writer still busy after %.1f s; unwritten records are lost", timeout
            )

    def __enter__(self) -> PredictionLogWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _count(self, key: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[key] += amount

    def _release(self, size: int) -> None:
        with self._lock:
            self._queued_bytes -= size

    # -- writer thread ------------------------------------------------------------------------

    def _run(self) -> None:
        self._sweep_if_due()
        while True:
            try:
                item = self._queue.get(timeout=self._idle_wait_s())
            except queue.Empty:  # idle past the next sweep
                self._sweep_if_due()
                continue
            if item is _STOP:
                break
            record, size = item
            try:
                self._write(record)
            finally:
                self._release(size)
            # Flush whenever the queue runs dry: readers see records within one idle moment,
            # and a burst is written with one flush.
            if self._queue.empty():
                self._flush()
            self._sweep_if_due()
        self._close_file()

    def _idle_wait_s(self) -> float | None:
        """How long an idle writer thread waits for a record: until the next sweep is due."""
        if self._retention_s is None:
            return None
        return min(max(self._next_sweep_s - self._clock(), 1.0), RETENTION_SWEEP_S)

    def _sweep_if_due(self) -> None:
        if self._retention_s is None:
            return
        now = self._clock()
        # A clock set back by more than the interval would otherwise postpone sweeps until it
        # caught up.
        if now < self._next_sweep_s <= now + RETENTION_SWEEP_S:
            return
        self._next_sweep_s = now + RETENTION_SWEEP_S
        try:
            self.delete_expired_partitions(now)
        except Exception as error:  # the writer thread must live on: its records matter more
            self._log_once(error, "apply retention")

    def delete_expired_partitions(self, now_s: float) -> int:
        """Deletes the hour partitions whose hour ended more than `retention_days` before
        `now_s`, except the one this writer has open, and the date directories left empty
        whose day is past as well; returns how many partitions this call deleted. Run by the
        writer thread (see the module docstring); what cannot be deleted is logged and kept."""
        if self._retention_s is None:
            return 0
        cutoff = now_s - self._retention_s
        deleted = 0
        for date_directory in _subdirectories(self._directory, _DATE_DIRECTORY):
            day_start = _partition_start(date_directory.name, "00")
            if day_start is None:
                continue
            for hour_directory in _subdirectories(date_directory, _HOUR_DIRECTORY):
                start = _partition_start(date_directory.name, hour_directory.name)
                if start is None or start + HOUR_S > cutoff:
                    continue
                if (date_directory.name, hour_directory.name) == self._file_partition:
                    continue
                if self._remove(hour_directory):
                    deleted += 1
            # Only a past day's directory: a writer may be creating today's (mkdir of the date,
            # then of the hour) and must not find it gone in between.
            if day_start + DAY_S <= cutoff:
                try:
                    date_directory.rmdir()
                except OSError:  # not empty (a partition kept), or another process was first
                    pass
        if deleted:
            self._count("partitions_deleted", deleted)
        return deleted

    def _remove(self, directory: Path) -> bool:
        """rmtree that lets another process delete (part of) it first; False when it was gone
        or could not be deleted (logged once per kind of error)."""

        def gone_is_fine(function, path, exc_info) -> None:
            if not issubclass(exc_info[0], FileNotFoundError):
                raise exc_info[1]

        if not directory.exists():
            return False
        try:
            shutil.rmtree(directory, onerror=gone_is_fine)
        except OSError as error:
            self._log_once(error, "delete an expired partition")
            return False
        return True

    def _write(self, record: LoggedPrediction) -> None:
        try:
            serialized = to_prediction_log(record, self._config.sample_rate).SerializeToString()
        except Exception as error:  # a malformed record is the caller's bug: count, log once
            self._error(error, records=1, action="convert")
            return
        partition = hour_partition(record.time_s)
        try:
            if self._file is None or partition != self._file_partition:
                self._close_file()
                self._open_file(partition, record.time_s)
            self._file.write(serialized)
            self._unflushed += 1
        except Exception as error:
            self._error(error, records=1 + self._unflushed, action="write")
            self._unflushed = 0
            self._abandon_file()

    def _open_file(self, partition: tuple[str, str], time_s: float) -> None:
        import tensorflow as tf  # already loaded by the server; imported here to keep it local

        folder = self._directory / partition[0] / partition[1]
        folder.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(time_s)) + f".{int(time_s % 1 * 1e6):06d}"
        self._file_sequence += 1
        path = folder / f"predictions-{stamp}-{os.getpid()}-{self._file_sequence:04d}{FILE_SUFFIX}"
        self._file = self._open_writer(str(path), tf)
        self._file_partition = partition

    def _open_writer(self, path: str, tf):
        """Separate so a test can point the writer at a device that fails (e.g. /dev/full)."""
        return tf.io.TFRecordWriter(path)

    def _flush(self) -> None:
        if self._file is None or not self._unflushed:
            return
        try:
            self._file.flush()
        except Exception as error:
            self._error(error, records=self._unflushed, action="flush")
            self._unflushed = 0
            self._abandon_file()
            return
        self._count("written", self._unflushed)
        self._unflushed = 0

    def _close_file(self) -> None:
        if self._file is None:
            return
        self._flush()
        if self._file is None:  # the flush failed and abandoned it
            return
        try:
            self._file.close()
        except Exception as error:
            self._error(error, records=0, action="close")
        self._file = None
        self._file_partition = None

    def _abandon_file(self) -> None:
        """After an error the next record starts a fresh file rather than appending to a bad one."""
        if self._file is not None:
            try:
                self._file.close()
            except Exception:  # already counted the error that got us here
                pass
        self._file = None
        self._file_partition = None

    def _error(self, error: Exception, records: int, action: str) -> None:
        self._count("errors", records)
        self._log_once(error, action, "records are counted as errors, ")

    def _log_once(self, error: Exception, action: str, consequence: str = "") -> None:
        kind = f"{action}:{type(error).__name__}"
        if kind not in self._error_kinds_logged:
            self._error_kinds_logged.add(kind)
            _LOG.error(
                "prediction log: cannot %s under %s (%s: %s); %srequests are unaffected; further "
                "errors of this kind are not logged",
                action,
                self._directory,
                type(error).__name__,
                error,
                consequence,
            )


def hour_partition(time_s: float) -> tuple[str, str]:
    """('YYYY-MM-DD', 'HH') of a Unix time, in UTC."""
    moment = time.gmtime(time_s)
    return time.strftime("%Y-%m-%d", moment), time.strftime("%H", moment)


def _partition_start(date: str, hour: str) -> float | None:
    """The Unix time an hour partition starts; None for a name that is not one."""
    try:
        return float(calendar.timegm(time.strptime(f"{date} {hour}", "%Y-%m-%d %H")))
    except ValueError:
        return None


def _subdirectories(directory: Path, name: re.Pattern) -> list[Path]:
    """The subdirectories whose whole name matches; none when `directory` is gone (another
    process may be deleting it) or unreadable."""
    try:
        return sorted(p for p in directory.iterdir() if name.fullmatch(p.name) and p.is_dir())
    except OSError:
        return []


# -- reading ----------------------------------------------------------------------------------


def prediction_log_files(directory: Path) -> list[Path]:
    """Every log file under `directory`, oldest hour first, then by the time each file started."""
    return sorted(
        Path(directory).glob(f"*/*/*{FILE_SUFFIX}"),
        key=lambda p: (p.parent.parent.name, p.parent.name, p.name),
    )


def read_prediction_logs(directory: Path) -> Iterator[prediction_log_pb2.PredictionLog]:
    """Every record under `directory`, in time order. A file still being written may end in a
    partial record: reading stops there, with a warning, and goes on with the next file."""
    import tensorflow as tf

    for path in prediction_log_files(directory):
        records = iter(tf.data.TFRecordDataset(str(path)))
        while True:
            try:
                raw = next(records)
            except StopIteration:
                break
            except tf.errors.DataLossError as error:
                _LOG.warning("prediction log %s: truncated record skipped (%s)", path, error.message)
                break
            yield prediction_log_pb2.PredictionLog.FromString(raw.numpy())

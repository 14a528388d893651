"""Metrics and alerts for every worker process of one server, answered by whichever worker a
scrape or `GET /v1/alerts` lands on (as prometheus_client's multiprocess mode does for counters).

Each worker has its own `Monitor` and a `MetricsExchange` over a directory the workers share.
`publish()` writes the worker's `Monitor.state()` to `<directory>/worker-<worker>.json` (JSON,
written to a temporary file then renamed over the old one, so a reader sees a whole snapshot or
the previous one); the server calls it about once a second and once more at shutdown. Reading,
the exchange merges this worker's live state with every other worker's latest snapshot
(`snapshot.merge_states`):

- counters and histograms add up over every snapshot, those of workers that stopped included,
  so a total never goes down while the server runs;
- windows (what the alert metrics are computed over) come from the live workers only: this one
  and those whose snapshot is younger than `stale_seconds`. A merged window is the union of
  their windows, so it holds up to `workers x monitoring.window` observations;
- the alerts in force (and since when) are this process's own: `evaluate_alerts()` judges the
  merged metrics into this exchange's `AlertBook`.

A snapshot file that cannot be read as one (broken, cut short, another format, another
worker's name inside) is skipped and logged once; it never fails a scrape. Snapshots count
until the directory is cleared: `clear_snapshots` removes those of an earlier server run and is
called once before the workers start. Give each worker process a name of its own (a restarted
worker a new one, its pid for example): a process publishing under a name another used
replaces that one's counters.

Label values are capped per worker (`monitor.py`), so the merged page holds at most the
workers' caps together: the union of the values each worker kept.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ml_lifecycle.base.atomic_file import write_atomically
from ml_lifecycle.serving.observability.alerts import Alert, AlertBook
from ml_lifecycle.serving.observability.metrics import MetricValue, resolve
from ml_lifecycle.serving.observability.monitor import Monitor
from ml_lifecycle.serving.observability.snapshot import (
    MonitorState,
    Snapshot,
    SnapshotError,
    merge_states,
    parse_snapshot,
    snapshot_bytes,
)

_LOG = logging.getLogger(__name__)

SNAPSHOT_PREFIX, SNAPSHOT_SUFFIX = "worker-", ".json"
_WORKER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
# A snapshot holds bounded tables and windows (a few MB at the label caps); a bigger file in the
# directory is not one, and is not read into memory.
MAX_SNAPSHOT_BYTES = 64 * 1024 * 1024


def snapshot_path(directory: Path, worker: str) -> Path:
    """The file a worker publishes its snapshot to."""
    if not _WORKER_NAME.fullmatch(worker):
        raise ValueError(f"worker name {worker!r}: expected letters, digits, '_', '.' or '-' (at most 100)")
    return Path(directory) / f"{SNAPSHOT_PREFIX}{worker}{SNAPSHOT_SUFFIX}"


def clear_snapshots(directory: Path) -> int:
    """Removes the snapshot files in `directory` (an earlier server run's); returns how many."""
    removed = 0
    for path in Path(directory).glob(f"{SNAPSHOT_PREFIX}*{SNAPSHOT_SUFFIX}"):
        path.unlink(missing_ok=True)
        removed += 1
    return removed


class MetricsExchange:
    """One worker's view of every worker's metrics and alerts (see the module docstring).

    `log_alerts=False` judges alerts without logging them, for all workers but one: each worker
    judges the same merged metrics, and one log line per alert is enough."""

    def __init__(
        self,
        directory: Path,
        worker: str,
        monitor: Monitor,
        *,
        clock: Callable[[], float] = time.time,
        stale_seconds: float = 10.0,
        log_alerts: bool = True,
    ) -> None:
        self._directory = Path(directory)
        self._worker = worker
        self._path = snapshot_path(self._directory, worker)
        self._monitor = monitor
        self._clock = clock
        self._stale_seconds = stale_seconds
        self._log_alerts = log_alerts
        self._alerts = AlertBook()
        self._publish_lock = threading.Lock()
        self._read_lock = threading.Lock()
        # path -> (the file's stat when read, its snapshot): unchanged files are not parsed again.
        self._cache: dict[Path, tuple[tuple[int, int, int], Snapshot]] = {}
        self._reported: set[Path] = set()  # unreadable files already logged
        self._publish_failing = False

    @property
    def path(self) -> Path:
        return self._path

    # -- writing ------------------------------------------------------------------------------

    def publish(self) -> bool:
        """Writes this worker's snapshot; False (logged once until it works again) if it could not."""
        payload = snapshot_bytes(
            self._monitor.state(), worker=self._worker, pid=os.getpid(), written=self._clock()
        )
        with self._publish_lock:
            try:
                # No fsync: a snapshot is republished every second, and one lost to a power cut
                # is replaced by the next.
                write_atomically(self._path, payload, fsync=False)
            except OSError as error:
                if not self._publish_failing:
                    _LOG.warning("cannot publish the metrics snapshot %s: %s", self._path, error)
                self._publish_failing = True
                return False
        if self._publish_failing:
            _LOG.info("metrics snapshot %s published again", self._path)
            self._publish_failing = False
        return True

    # -- reading ------------------------------------------------------------------------------

    def state(self) -> MonitorState:
        """This worker's live state merged with every other worker's latest snapshot."""
        now = self._clock()
        others = self._read_others()
        # A model whose edges another worker chose (the first in worker order) gets the same ones
        # here, so the histograms add up without re-binning.
        for _, snapshot in others:
            self._monitor.adopt_edges(snapshot.state.model_edges)
        parts = [(self._worker, self._monitor.state(), True)]
        parts += [
            (worker, snapshot.state, now - snapshot.written < self._stale_seconds)
            for worker, snapshot in others
        ]
        parts.sort(key=lambda part: part[0])
        return merge_states([(state, live) for _, state, live in parts])

    def prometheus_text(self) -> str:
        """Every worker's metrics in the Prometheus text exposition format 0.0.4."""
        return self._monitor.text_of(self.state(), self._alerts.active())

    def evaluate_alerts(self) -> list[Alert]:
        """Judges every rule on the merged metrics now; returns the alerts in force."""
        return self._monitor.judge(self.state(), self._alerts, self._clock(), log=self._log_alerts)

    def alerts(self) -> list[Alert]:
        """The alerts in force at this process's last `evaluate_alerts()`."""
        return self._alerts.active()

    def metric_value(self, metric: str, model: str) -> MetricValue:
        """An alert metric's (value, observations) for one model over the merged windows."""
        registered, feature = resolve(metric)
        return registered.value(self._monitor.observe(self.state(), model), feature)

    def _read_others(self) -> list[tuple[str, Snapshot]]:
        """(worker, snapshot) of every other readable snapshot file, in worker order."""
        with self._read_lock:
            found: list[tuple[str, Snapshot]] = []
            seen: set[Path] = set()
            for path in sorted(self._directory.glob(f"{SNAPSHOT_PREFIX}*{SNAPSHOT_SUFFIX}")):
                if path == self._path:
                    continue
                seen.add(path)
                worker = path.name[len(SNAPSHOT_PREFIX) : -len(SNAPSHOT_SUFFIX)]
                snapshot = self._read(path, worker)
                if snapshot is not None:
                    found.append((worker, snapshot))
            for gone in set(self._cache) - seen:
                del self._cache[gone]
            self._reported &= seen
            return found

    def _read(self, path: Path, worker: str) -> Snapshot | None:
        try:
            stat = path.stat()
            key = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
            cached = self._cache.get(path)
            if cached is not None and cached[0] == key:
                return cached[1]
            if stat.st_size > MAX_SNAPSHOT_BYTES:
                raise SnapshotError(
                    f"{stat.st_size} bytes, more than a snapshot holds ({MAX_SNAPSHOT_BYTES})"
                )
            snapshot = parse_snapshot(path.read_bytes())
            if snapshot.worker != worker:
                raise SnapshotError(f"written by worker {snapshot.worker!r}, the file name says {worker!r}")
        except FileNotFoundError:
            return None  # removed since the directory was listed: a worker's file is never absent for long
        except (OSError, SnapshotError) as error:
            self._cache.pop(path, None)
            if path not in self._reported:
                self._reported.add(path)
                _LOG.warning("skipping the metrics snapshot %s: %s", path, error)
            return None
        self._cache[path] = (key, snapshot)
        self._reported.discard(path)
        return snapshot

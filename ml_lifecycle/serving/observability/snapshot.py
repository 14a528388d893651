"""A monitor's numbers as plain data (`MonitorState`): what the Prometheus text and the alerts
are computed from, what a worker process writes to its snapshot file, and what the snapshots of
several workers merge into.

A state holds tables of cumulative series (counters and histograms by table name, keys the
label values), the edges of histograms whose edges are per model, each model's window summary
(`windows.WindowSummary`), the shadow pairs' windows and the prediction log counters.

`merge_states` adds up the counters and histograms of every worker, those of workers that
stopped included (a counter never goes down), and the windows of the live ones only (a stopped
worker's last observations say nothing about the traffic now). A histogram whose edges differ
from the merged one's (two workers that chose a model's edges from their own first predictions
at the same time) is counted into the merged edges (`tallies.rebinned`).

Snapshot files are JSON, so reading one runs no code: `snapshot_bytes` writes one and
`parse_snapshot` reads it back, refusing (`SnapshotError`) anything that is not a well-formed
snapshot of this format. Non-finite floats (a model's NaN score) are written as JSON's
`NaN`/`Infinity` extension, which Python's json reads back exactly.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, fields

from ml_lifecycle.serving.observability.outputs import OUTPUT_METRICS, output_table
from ml_lifecycle.serving.observability.tallies import (
    COUNTER_TABLES,
    HISTOGRAM_TABLES,
    LATENCY_BUCKETS,
    add_histogram,
    rebinned,
)
from ml_lifecycle.serving.observability.windows import WindowSummary, merge_summaries

SNAPSHOT_FORMAT = "ml-lifecycle/serving-monitor-snapshot/1"

Key = tuple[str, ...]


def _table_layout() -> tuple[dict[str, int], dict[str, tuple[float, ...] | None]]:
    """(counter table -> key length, histogram table -> fixed edges or None for per-model edges)."""
    counters = {name: len(labels) for name, labels in COUNTER_TABLES.items()}
    histograms: dict[str, tuple[float, ...] | None] = {name: LATENCY_BUCKETS for name in HISTOGRAM_TABLES}
    for metric in OUTPUT_METRICS.values():
        if metric.kind == "counter":
            counters[output_table(metric)] = 2 + len(metric.labels)
        else:
            histograms[output_table(metric)] = metric.buckets
    return counters, histograms


COUNTER_KEY_LENGTHS, HISTOGRAM_EDGES = _table_layout()
HISTOGRAM_KEY_LENGTHS = {
    **{name: len(labels) for name, labels in HISTOGRAM_TABLES.items()},
    **{output_table(m): 2 + len(m.labels) for m in OUTPUT_METRICS.values() if m.kind == "histogram"},
}


class SnapshotError(ValueError):
    """A snapshot file that is not a well-formed snapshot of this format."""


@dataclass
class MonitorState:
    """Every number a monitor exports; tables keyed by label-value tuples, every table present."""

    counters: dict[str, dict[Key, int]] = field(default_factory=lambda: {t: {} for t in COUNTER_KEY_LENGTHS})
    # Histograms as `tallies.new_histogram` lays them out: counts per bucket, then sum and count.
    histograms: dict[str, dict[Key, list]] = field(default_factory=lambda: {t: {} for t in HISTOGRAM_EDGES})
    # model -> edges of the histogram tables without fixed edges (`prediction`).
    model_edges: dict[str, tuple[float, ...]] = field(default_factory=dict)
    windows: dict[str, WindowSummary] = field(default_factory=dict)
    # (model, live version, shadow version) -> (comparisons, agreements) in the pair's window.
    shadow_windows: dict[Key, tuple[int, int]] = field(default_factory=dict)
    log_stats: dict[str, int] = field(default_factory=dict)

    def edges(self, table: str, key: Key) -> tuple[float, ...]:
        """The bucket edges of one histogram series."""
        fixed = HISTOGRAM_EDGES[table]
        return fixed if fixed is not None else self.model_edges[key[0]]


def merge_states(parts: Sequence[tuple[MonitorState, bool]]) -> MonitorState:
    """The states of several workers as one, `parts` (state, live) in worker order: every
    counter and histogram added up, windows of the live ones only. A model's edges are those of
    the first part that has them. One live part merges into an equal state."""
    merged = MonitorState()
    for state, _ in parts:
        for model, edges in state.model_edges.items():
            merged.model_edges.setdefault(model, edges)
    windows: dict[str, list[WindowSummary]] = {}
    for state, live in parts:
        for table, rows in state.counters.items():
            total = merged.counters[table]
            for key, count in rows.items():
                total[key] = total.get(key, 0) + count
        for table, rows in state.histograms.items():
            merged_rows = merged.histograms[table]
            for key, histogram in rows.items():
                bounds, into = state.edges(table, key), merged.edges(table, key)
                counted = list(histogram) if bounds == into else rebinned(histogram, bounds, into)
                if key in merged_rows:
                    add_histogram(merged_rows[key], counted)
                else:
                    merged_rows[key] = counted
        for outcome, count in state.log_stats.items():
            merged.log_stats[outcome] = merged.log_stats.get(outcome, 0) + count
        if not live:
            continue
        for model, summary in state.windows.items():
            windows.setdefault(model, []).append(summary)
        for key, (count, agree) in state.shadow_windows.items():
            previous_count, previous_agree = merged.shadow_windows.get(key, (0, 0))
            merged.shadow_windows[key] = (previous_count + count, previous_agree + agree)
    merged.windows = {model: merge_summaries(summaries) for model, summaries in windows.items()}
    return merged


# -- files ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """One worker's state as read from its file, with who wrote it and when (Unix time)."""

    worker: str
    pid: int
    written: float
    state: MonitorState


def snapshot_bytes(state: MonitorState, *, worker: str, pid: int, written: float) -> bytes:
    document = {
        "format": SNAPSHOT_FORMAT,
        "worker": worker,
        "pid": pid,
        "written": written,
        "counters": {table: [[*key, n] for key, n in rows.items()] for table, rows in state.counters.items()},
        "histograms": {
            table: [[*key, list(histogram)] for key, histogram in rows.items()]
            for table, rows in state.histograms.items()
        },
        "model_edges": {model: list(edges) for model, edges in state.model_edges.items()},
        # Not dataclasses.asdict: it rebuilds a Counter from (key, count) pairs, counting the pairs.
        "windows": {
            model: {f.name: getattr(summary, f.name) for f in fields(WindowSummary)}
            for model, summary in state.windows.items()
        },
        "shadow_windows": [[*key, count, agree] for key, (count, agree) in state.shadow_windows.items()],
        "log_stats": state.log_stats,
    }
    return json.dumps(document, separators=(",", ":")).encode("utf-8")


def parse_snapshot(data: bytes) -> Snapshot:
    """A snapshot file's content; SnapshotError names what is wrong with it."""
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        raise SnapshotError(f"not JSON: {error}") from error
    document = _mapping(document, "the document")
    if document.get("format") != SNAPSHOT_FORMAT:
        raise SnapshotError(f"format is {document.get('format')!r}, expected {SNAPSHOT_FORMAT!r}")
    state = MonitorState(
        model_edges={
            _text(model, "model_edges"): _edges(edges, f"model_edges[{model!r}]")
            for model, edges in _mapping(document.get("model_edges", {}), "model_edges").items()
        }
    )
    for table, rows in _mapping(document.get("counters", {}), "counters").items():
        length = COUNTER_KEY_LENGTHS.get(table)
        if length is None:
            raise SnapshotError(f"unknown counter table {table!r}")
        state.counters[table] = {
            _key(row[:-1], length, table): _count(row[-1], table) for row in _rows(rows, table)
        }
    for table, rows in _mapping(document.get("histograms", {}), "histograms").items():
        length = HISTOGRAM_KEY_LENGTHS.get(table)
        if length is None:
            raise SnapshotError(f"unknown histogram table {table!r}")
        parsed = state.histograms[table]
        for row in _rows(rows, table):
            key = _key(row[:-1], length, table)
            if HISTOGRAM_EDGES[table] is None and key[0] not in state.model_edges:
                raise SnapshotError(f"{table}: no edges for model {key[0]!r}")
            parsed[key] = _histogram(row[-1], len(state.edges(table, key)), table)
    for model, summary in _mapping(document.get("windows", {}), "windows").items():
        state.windows[_text(model, "windows")] = _summary(summary, f"windows[{model!r}]")
    for row in _rows(document.get("shadow_windows", []), "shadow_windows"):
        state.shadow_windows[_key(row[:-2], 3, "shadow_windows")] = (
            _count(row[-2], "shadow_windows"),
            _count(row[-1], "shadow_windows"),
        )
    state.log_stats = {
        _text(outcome, "log_stats"): _count(count, "log_stats")
        for outcome, count in _mapping(document.get("log_stats", {}), "log_stats").items()
    }
    return Snapshot(
        _text(document.get("worker"), "worker"),
        _count(document.get("pid"), "pid"),
        _number(document.get("written"), "written"),
        state,
    )


def _mapping(value: object, where: str) -> dict:
    if not isinstance(value, dict):
        raise SnapshotError(f"{where}: expected an object, found {type(value).__name__}")
    return value


def _rows(value: object, where: str) -> list[list]:
    if not isinstance(value, list) or not all(isinstance(row, list) and row for row in value):
        raise SnapshotError(f"{where}: expected a list of rows")
    return value


def _text(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise SnapshotError(f"{where}: expected a string, found {value!r}")
    return value


def _key(values: list, length: int, where: str) -> Key:
    if len(values) != length:
        raise SnapshotError(f"{where}: a key of {len(values)} labels, expected {length}")
    return tuple(_text(value, where) for value in values)


def _count(value: object, where: str) -> int:
    # bool is an int to Python; a count of `true` is not a snapshot this module wrote.
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise SnapshotError(f"{where}: expected a count, found {value!r}")
    return value


def _number(value: object, where: str) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise SnapshotError(f"{where}: expected a number, found {value!r}")
    return value


def _edges(value: object, where: str) -> tuple[float, ...]:
    if not isinstance(value, list) or not value:
        raise SnapshotError(f"{where}: expected a list of edges")
    edges = tuple(float(_number(edge, where)) for edge in value)
    if any(not math.isfinite(edge) for edge in edges) or any(
        b <= a for a, b in zip(edges, edges[1:], strict=False)
    ):
        raise SnapshotError(f"{where}: edges must be finite and increase")
    return edges


def _histogram(value: object, edges: int, where: str) -> list:
    if not isinstance(value, list) or len(value) != edges + 3:
        raise SnapshotError(f"{where}: expected {edges + 1} bucket counts, a sum and a count")
    return [
        *(_count(count, where) for count in value[: edges + 1]),
        _number(value[-2], where),
        _count(value[-1], where),
    ]


_SUMMARY_COUNTERS = ("request_classes", "missing", "out_of_schema")
_SUMMARY_FLOATS = ("score_sum", "shadow_diff_sum")


def _summary(value: object, where: str) -> WindowSummary:
    document = _mapping(value, where)
    expected = {f.name for f in fields(WindowSummary)}
    if set(document) != expected:
        raise SnapshotError(f"{where}: expected the fields {sorted(expected)}, found {sorted(document)}")
    parsed: dict[str, object] = {}
    for name, item in document.items():
        if name == "latencies":
            if not isinstance(item, list):
                raise SnapshotError(f"{where}.latencies: expected a list")
            parsed[name] = [_number(seconds, where) for seconds in item]
        elif name == "seen_features":
            if not isinstance(item, list):
                raise SnapshotError(f"{where}.seen_features: expected a list")
            parsed[name] = [_text(feature, where) for feature in item]
        elif name in _SUMMARY_COUNTERS:
            parsed[name] = Counter(
                {_text(key, where): _count(count, where) for key, count in _mapping(item, where).items()}
            )
        elif name in _SUMMARY_FLOATS:
            parsed[name] = _number(item, where)
        else:
            parsed[name] = _count(item, where)
    return WindowSummary(**parsed)

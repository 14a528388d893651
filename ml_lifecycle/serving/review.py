"""Human in the loop: which predictions a person reviews, the durable review queue, and its export
as a span the pipeline ingests.

`serving.review.automation` sets the degree of automation: `assist` returns every prediction and
flags it for review; `partial` defers (answers `deferred`, queues) the predictions whose score
falls inside [defer_low, defer_high]; `full` leaves people out.

The queue is one SQLite file in WAL mode: the server adds items from many threads while
`lifecycle review` lists, labels and exports from another process. Each thread has its own
connection; a busy timeout makes concurrent writers wait rather than fail.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from ml_lifecycle.base.errors import DataError, LifecycleError, UsageError
from ml_lifecycle.config.dataset import DatasetConfig
from ml_lifecycle.config.serving import HumanReviewConfig
from ml_lifecycle.datasets.span_files import as_float_text, cell, span_dir, write_csv_rows, write_span

# Other connections may hold the write lock briefly (one insert); wait rather than fail.
_BUSY_TIMEOUT_S = 10.0
_SCHEMA = """
CREATE TABLE IF NOT EXISTS review_items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_s REAL NOT NULL,
    model TEXT NOT NULL,
    version INTEGER NOT NULL,
    features TEXT NOT NULL,          -- JSON object of raw features, as the request sent them
    score REAL NOT NULL,
    deferred INTEGER NOT NULL,       -- 1: the caller got no prediction, only `deferred`
    label INTEGER,                   -- the human's label; NULL while pending
    labelled_s REAL,
    exported_span INTEGER            -- the span this item went into; NULL until exported
);
CREATE INDEX IF NOT EXISTS review_items_pending ON review_items (label, id);
"""


@dataclass(frozen=True)
class ReviewDecision:
    deferred: bool  # answer `deferred` instead of the prediction, and queue it
    flagged: bool  # queue it for review (deferred ones always are)


def decide(score: float, config: HumanReviewConfig) -> ReviewDecision:
    """What human review does with one prediction's score under the configured automation."""
    if config.automation == "assist":
        return ReviewDecision(deferred=False, flagged=True)
    if config.automation == "partial":
        deferred = config.defer_low <= score <= config.defer_high
        return ReviewDecision(deferred=deferred, flagged=deferred)
    return ReviewDecision(deferred=False, flagged=False)


def review_marks(scores: Iterable[float], config: HumanReviewConfig) -> dict[str, list[bool]] | None:
    """The `review` key of a response: per row, deferred and flagged; None under full automation."""
    if config.automation == "full":
        return None
    decisions = [decide(float(score), config) for score in scores]
    return {
        "deferred": [decision.deferred for decision in decisions],
        "flagged": [decision.flagged for decision in decisions],
    }


class ReviewItemNotFoundError(LifecycleError, ValueError):
    """No review item has the given id."""


class InvalidLabelError(LifecycleError, ValueError):
    """A label that the dataset's 0/1 label column cannot hold."""


class NothingToExportError(LifecycleError, ValueError):
    """No labelled items are waiting to be exported."""


class SpanExistsError(LifecycleError, ValueError):
    """The export would overwrite a span that is already there."""


@dataclass(frozen=True)
class ReviewItem:
    id: int
    created_s: float
    model: str
    version: int
    features: dict[str, object]
    score: float
    deferred: bool
    label: int | None
    labelled_s: float | None
    exported_span: int | None

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "created_s": self.created_s,
            "model": self.model,
            "version": self.version,
            "features": self.features,
            "score": self.score,
            "deferred": self.deferred,
            "label": self.label,
            "labelled_s": self.labelled_s,
            "exported_span": self.exported_span,
        }


class ReviewQueue:
    """The durable review queue (see the module docstring); safe across threads and processes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        # executescript commits on its own; IF NOT EXISTS makes concurrent creation harmless.
        self._connection().executescript(_SCHEMA)

    def add(self, model: str, version: int, features: dict, score: float, deferred: bool) -> int:
        """Queues one prediction for review; returns its id."""
        text = json.dumps(features, default=_json_default, sort_keys=True)
        with self._transaction() as connection:
            cursor = connection.execute(
                "INSERT INTO review_items (created_s, model, version, features, score, deferred) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (time.time(), model, int(version), text, float(score), int(bool(deferred))),
            )
            return int(cursor.lastrowid)

    def pending(self, limit: int = 50) -> list[ReviewItem]:
        """Items waiting for a label, oldest first."""
        return self._select("WHERE label IS NULL ORDER BY id LIMIT ?", (int(limit),))

    def get(self, item_id: int) -> ReviewItem:
        items = self._select("WHERE id = ?", (int(item_id),))
        if not items:
            raise ReviewItemNotFoundError(f"review item {item_id}: no such item in {self.path}")
        return items[0]

    def label(self, item_id: int, label: int | str) -> ReviewItem:
        """Sets (or corrects) an item's label: 0 or 1, like the dataset's label column."""
        value = _parse_label(label)
        with self._transaction() as connection:
            cursor = connection.execute(
                "UPDATE review_items SET label = ?, labelled_s = ? WHERE id = ?",
                (value, time.time(), int(item_id)),
            )
            if cursor.rowcount == 0:
                raise ReviewItemNotFoundError(f"review item {item_id}: no such item in {self.path}")
        return self.get(item_id)

    def labelled(self, include_exported: bool = True) -> list[ReviewItem]:
        """Labelled items, oldest first (without those already in a span unless asked)."""
        where = "WHERE label IS NOT NULL" + ("" if include_exported else " AND exported_span IS NULL")
        return self._select(where + " ORDER BY id", ())

    def counts(self) -> dict[str, int]:
        """Items pending, labelled and not exported yet, and exported."""
        with self._transaction() as connection:
            row = connection.execute(
                "SELECT SUM(label IS NULL), SUM(label IS NOT NULL AND exported_span IS NULL), "
                "SUM(exported_span IS NOT NULL) FROM review_items"
            ).fetchone()
        return {"pending": row[0] or 0, "labelled": row[1] or 0, "exported": row[2] or 0}

    def mark_exported(self, item_ids: list[int], span: int) -> None:
        with self._transaction() as connection:
            connection.executemany(
                "UPDATE review_items SET exported_span = ? WHERE id = ?", [(span, i) for i in item_ids]
            )

    def items_for_export(self, span: int) -> list[ReviewItem]:
        """Labelled items not in any span yet, plus those already exported to `span` (a re-export)."""
        return self._select(
            "WHERE label IS NOT NULL AND (exported_span IS NULL OR exported_span = ?) ORDER BY id", (span,)
        )

    def close(self) -> None:
        """Closes this thread's connection (others close when their threads end)."""
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a committed item survives a server crash; only a power cut can lose
            # the last few, and the request had its answer anyway.
            connection.execute("PRAGMA synchronous=NORMAL")
            self._local.connection = connection
        return connection

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        connection = self._connection()
        # IMMEDIATE takes the write lock up front, so two writers wait (busy timeout) instead of
        # one failing at commit with "database is locked".
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield connection
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def _select(self, clause: str, parameters: tuple) -> list[ReviewItem]:
        rows = (
            self._connection()
            .execute(
                "SELECT id, created_s, model, version, features, score, deferred, label, labelled_s, "
                f"exported_span FROM review_items {clause}",
                parameters,
            )
            .fetchall()
        )
        return [
            ReviewItem(
                id=row[0],
                created_s=row[1],
                model=row[2],
                version=row[3],
                features=json.loads(row[4]),
                score=row[5],
                deferred=bool(row[6]),
                label=row[7],
                labelled_s=row[8],
                exported_span=row[9],
            )
            for row in rows
        ]


def _json_default(value: object) -> object:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    raise TypeError(f"cannot store a {type(value).__name__} in the review queue")


def _parse_label(label: int | str) -> int:
    text = str(label).strip()
    if text not in ("0", "1"):
        raise InvalidLabelError(f"label {label!r}: expected 0 or 1")
    return int(text)


# -- export as a span -------------------------------------------------------------------------


def export_span(
    queue: ReviewQueue, dataset: DatasetConfig, data_root: Path, span: int, *, force: bool = False
) -> Path:
    """Writes the labelled items not exported yet to `data_root/span-<span>/data.csv`, with the
    columns and value formats `lifecycle data prepare` writes (so `check_span` and
    `lifecycle run --span <span>` accept it), and marks them exported. Refuses to replace an
    existing span unless `force`; a forced re-export of the same span includes its items again."""
    if span < 1:
        raise UsageError(f"--span {span}: spans are numbered from 1")
    final = span_dir(data_root, span)
    if final.exists() and not force:
        raise SpanExistsError(f"span {span}: {final} already exists; pass --force to replace it")
    items = queue.items_for_export(span)
    if not items:
        raise NothingToExportError(
            f"no labelled review items to export (pending: {queue.counts()['pending']}); "
            "label some with `lifecycle review label ID LABEL`"
        )
    rows = [span_row(item, dataset) for item in items]
    path = write_span(
        data_root,
        span,
        partial(write_csv_rows, header=dataset.span_columns, rows=rows),
        staging_name=f".staging-review-span-{span}",
    )
    queue.mark_exported([item.id for item in items], span)
    return path


def span_row(item: ReviewItem, dataset: DatasetConfig) -> list[str]:
    """One review item as a span CSV row (features in config order, then the label), as text."""
    features = dataset.features
    row = []
    for name in features.all_names():
        # NaN kept: the server queues no NaN now (its JSON has none, a tf.Example's NaN decodes
        # as missing), but a queue written by an earlier server may hold one; export treats it
        # as it always has.
        value = cell(item.features.get(name), nan_is_missing=False)
        if value is None:
            row.append("")
        elif name in features.numeric or name in features.bucketized:
            row.append(as_float_text(_number_text(item, name, value, float)))
        elif name in features.categorical_int:
            row.append(_number_text(item, name, value, int))
        else:
            row.append(str(value))
    row.append(str(int(item.label)))
    return row


def _number_text(item: ReviewItem, name: str, value: object, kind: type) -> str:
    try:
        number = kind(float(value)) if kind is int else float(value)
        if kind is int and float(value) != number:
            raise ValueError
    except (TypeError, ValueError) as error:
        expected = "an integer" if kind is int else "a number"
        raise DataError(
            f"review item {item.id}: feature {name!r} expected {expected}, "
            f"got {value!r} (the request carried a value the dataset cannot hold)"
        ) from error
    return repr(number) if kind is float else str(number)

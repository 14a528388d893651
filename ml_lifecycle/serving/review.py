"""Human in the loop: the durable review queue (its export as a span is `review_export.py`).

The server queues the predictions the review rule (`review_rule.py`, `serving.review`) flagged
or deferred. An item records the model's task, the number the rule judged (`score`: binary
P(class 1), multiclass the top class's probability, regression the value) and a classifier's
predicted class; its label follows the task: 0/1, a class, a number. A multiclass label must be
one of the dataset's classes (`datasets.schema_file.known_label_classes`) when they are known, when it is
given and again when it is exported.

The queue is one SQLite file in WAL mode: the server adds items from many threads while
`lifecycle review` lists, labels and exports from another process. Each thread has its own
connection; a busy timeout makes concurrent writers wait rather than fail.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ml_lifecycle.base.contracts import Task
from ml_lifecycle.base.errors import LifecycleError

# Other connections may hold the write lock briefly (one insert); wait rather than fail.
_BUSY_TIMEOUT_S = 10.0
_SCHEMA = """
CREATE TABLE IF NOT EXISTS review_items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_s REAL NOT NULL,
    model TEXT NOT NULL,
    version INTEGER NOT NULL,
    features TEXT NOT NULL,          -- JSON object of raw features, after serving.privacy
    score REAL NOT NULL,
    deferred INTEGER NOT NULL,       -- 1: the caller got no prediction, only `deferred`
    label INTEGER,                   -- the human's label (0/1, a class, a number); NULL while pending
    labelled_s REAL,
    exported_span INTEGER,           -- the span this item went into; NULL until exported
    task TEXT NOT NULL DEFAULT 'binary',
    top_class TEXT                   -- classifiers: the predicted class
);
CREATE INDEX IF NOT EXISTS review_items_pending ON review_items (label, id);
"""
# Columns added after the first queues were written: (name, definition) for ALTER TABLE.
_ADDED_COLUMNS = (("task", "TEXT NOT NULL DEFAULT 'binary'"), ("top_class", "TEXT"))
# A label longer than this is a paste gone wrong, not a class (the longest need a few dozen).
MAX_LABEL_CHARS = 200


class ReviewItemNotFoundError(LifecycleError, ValueError):
    """No review item has the given id."""


class InvalidLabelError(LifecycleError, ValueError):
    """A label that the item's task cannot hold (binary 0/1, a class, a number)."""


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
    label: int | float | str | None  # binary 0/1, multiclass the class, regression the value
    labelled_s: float | None
    exported_span: int | None
    task: Task = Task.BINARY
    top_class: str | None = None  # classifiers: the predicted class

    @property
    def top_probability(self) -> float | None:
        """Multiclass: the predicted class's probability (what `score` holds)."""
        return self.score if self.task is Task.MULTICLASS else None

    def to_json(self) -> dict:
        return {
            "task": self.task.value,
            "top_class": self.top_class,
            "top_probability": self.top_probability,
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
        self._add_new_columns()

    def _add_new_columns(self) -> None:
        """A queue written before the task columns existed gets them (its items are binary)."""
        with self._transaction() as connection:
            present = {row[1] for row in connection.execute("PRAGMA table_info(review_items)")}
            for name, definition in _ADDED_COLUMNS:
                if name not in present:
                    connection.execute(f"ALTER TABLE review_items ADD COLUMN {name} {definition}")

    def add(
        self,
        model: str,
        version: int,
        features: dict,
        score: float,
        deferred: bool,
        task: Task = Task.BINARY,
        top_class: str | None = None,
    ) -> int:
        """Queues one prediction for review; returns its id. `score` is the number the review rule
        judged (see the module docstring), `top_class` a classifier's predicted class. `features`
        are stored as given: the server's hooks hand over rows with `serving.privacy` applied
        (dropped features absent, hashed ones their HMAC), so no clear value reaches the file."""
        text = json.dumps(features, default=_json_default, sort_keys=True)
        with self._transaction() as connection:
            cursor = connection.execute(
                "INSERT INTO review_items (created_s, model, version, features, score, deferred, task, "
                "top_class) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    time.time(),
                    model,
                    int(version),
                    text,
                    float(score),
                    int(bool(deferred)),
                    Task(task).value,
                    top_class,
                ),
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

    def label(self, item_id: int, label: int | float | str, classes: Sequence[str] = ()) -> ReviewItem:
        """Sets (or corrects) an item's label, as its task's label column holds it: binary 0 or
        1, multiclass a class (one of `classes` when they are given), regression a number."""
        value = parse_label(label, self.get(item_id).task, classes)
        # A class goes in as bytes: the column's INTEGER affinity would store the text "3.0" or
        # "007" as the number 3 or 7, and a BLOB is stored as it is.
        stored = value.encode("utf-8") if isinstance(value, str) else value
        with self._transaction() as connection:
            cursor = connection.execute(
                "UPDATE review_items SET label = ?, labelled_s = ? WHERE id = ?",
                (stored, time.time(), int(item_id)),
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
                f"exported_span, task, top_class FROM review_items {clause}",
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
                label=_read_label(row[7], Task(row[10])),
                labelled_s=row[8],
                exported_span=row[9],
                task=Task(row[10]),
                top_class=row[11],
            )
            for row in rows
        ]


def _json_default(value: object) -> object:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    raise TypeError(f"cannot store a {type(value).__name__} in the review queue")


def _read_label(stored: object, task: Task) -> int | float | str | None:
    if stored is None:
        return None
    return parse_label(stored.decode("utf-8") if isinstance(stored, bytes) else stored, task)


def parse_label(
    label: int | float | str, task: Task = Task.BINARY, classes: Sequence[str] = ()
) -> int | float | str:
    """A label as the task's label column holds it: binary 0 or 1, multiclass the class as text
    (one of `classes` when they are given), regression a finite number."""
    text = str(label).strip()
    if len(text) > MAX_LABEL_CHARS:
        raise InvalidLabelError(
            f"label {text[:40]!r}...: {len(text)} characters; a label has at most {MAX_LABEL_CHARS}"
        )
    if task is Task.MULTICLASS:
        if not text:
            raise InvalidLabelError(f"label {label!r}: expected a class" + _one_of(classes))
        if classes and text not in classes:
            raise InvalidLabelError(f"label {text!r} is not a class of the dataset;" + _one_of(classes))
        return text
    if task is Task.REGRESSION:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise InvalidLabelError(f"label {label!r}: expected a number")
        return value
    if text not in ("0", "1"):
        raise InvalidLabelError(f"label {label!r}: expected 0 or 1")
    return int(text)


def _one_of(classes: Sequence[str]) -> str:
    return f" one of {list(classes)}" if classes else ""

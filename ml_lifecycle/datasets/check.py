"""Pre-flight check of a span's CSV files before any pipeline work starts.

Catches what would otherwise surface as an opaque Beam stack trace deep inside ExampleGen:
missing or empty spans, missing or unexpected columns, rows with the wrong number of fields,
and values that do not parse as the configured type (the label's type follows `label.task`).
A missing value in a span file is an empty cell: `lifecycle data prepare` writes `na_values` so,
and CsvExampleGen would read an 'NA' left in a numeric column as text. Every error names the
file, line and column. Returns the row count, which the pipeline later checks against ExampleGen's output.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ml_lifecycle.base.contracts import Task
from ml_lifecycle.base.errors import DataError
from ml_lifecycle.base.text import where_not_utf8
from ml_lifecycle.config.dataset import DatasetConfig
from ml_lifecycle.datasets.span_files import span_dir


class SpanNotFoundError(DataError):
    """No files for the requested span."""


class EmptySpanError(DataError):
    """The span's files hold no data rows."""


@dataclass(frozen=True)
class SpanCheck:
    span: int
    files: list[Path]
    rows: int


def _parses_as_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _parses_as_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _expected_types(config: DatasetConfig) -> dict[str, tuple[str, Callable[[str], bool]]]:
    features, label = config.features, config.label
    types: dict[str, tuple[str, Callable[[str], bool]]] = {}
    for name in features.numeric + features.bucketized:
        types[name] = ("a number", _parses_as_float)
    for name in features.categorical_int:
        types[name] = ("an integer", _parses_as_int)
    if label.task is Task.BINARY:
        types[label.name] = ("an integer", _parses_as_int)
    elif label.task is Task.REGRESSION:
        types[label.name] = ("a number", _parses_as_float)
    elif label.classes:
        known = frozenset(label.classes)
        types[label.name] = (f"one of label.classes {label.classes}", known.__contains__)
    return types


@dataclass(frozen=True)
class _Expected:
    """What a span file of the dataset must hold."""

    columns: list[str]
    types: dict[str, tuple[str, Callable[[str], bool]]]
    label: str
    # Stripped na_values other than "": left in a span file they are text, not missing.
    na_tokens: frozenset[str]


def _type_error(where: str, name: str, expected: _Expected, expected_text: str, value: str) -> DataError:
    role = "label" if name == expected.label else "feature"
    message = f"{where}: {role} {name!r} expected {expected_text}, got {value!r}"
    if value.strip() in expected.na_tokens:
        message += (
            " (one of na_values: a missing value is an empty cell in a span file, as "
            "`lifecycle data prepare` writes it)"
        )
    return DataError(message)


def _check_file(path: Path, span: int, expected: _Expected) -> int:
    """Checks one span file; returns its data rows."""
    rows = 0
    columns, label = expected.columns, expected.label
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise EmptySpanError(f"span {span}: {path} is empty (no header, no rows)")
        missing = [c for c in columns if c not in header]
        if missing:
            raise DataError(f"span {span}: {path}: missing column(s) {missing}")
        unexpected = [c for c in header if c not in columns]
        if unexpected:
            raise DataError(
                f"span {span}: {path}: unexpected column(s) {unexpected}; the dataset config lists {columns}"
            )
        checks = [(i, name, *expected.types[name]) for i, name in enumerate(header) if name in expected.types]
        label_index = header.index(label)
        for line_number, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(header):
                raise DataError(
                    f"span {span}: {path}:{line_number}: malformed row, expected "
                    f"{len(header)} fields, found {len(row)}"
                )
            for index, name, expected_text, parses in checks:
                value = row[index]
                if value and not parses(value):
                    where = f"span {span}: {path}:{line_number}"
                    raise _type_error(where, name, expected, expected_text, value)
            if not row[label_index]:
                raise DataError(f"span {span}: {path}:{line_number}: label {label!r} is missing")
            rows += 1
    return rows


def check_span(config: DatasetConfig, data_root: Path, span: int) -> SpanCheck:
    """Validates every file of `span`; raises a DataError naming the first problem found."""
    directory = span_dir(data_root, span)
    files = sorted(directory.glob("*.csv")) if directory.is_dir() else []
    if not files:
        raise SpanNotFoundError(
            f"span {span}: no files match {directory}/*.csv (run `lifecycle data prepare`?)"
        )
    expected = _Expected(
        columns=config.span_columns,
        types=_expected_types(config),
        label=config.label.name,
        na_tokens=frozenset(v.strip() for v in config.na_values) - {""},
    )
    rows = 0
    for path in files:
        try:
            rows += _check_file(path, span, expected)
        except UnicodeDecodeError as error:
            raise DataError(f"span {span}: {path}: {where_not_utf8(path)}") from error
        except csv.Error as error:  # e.g. a NUL byte or an unterminated quote's runaway field
            raise DataError(f"span {span}: {path}: malformed CSV: {error}") from error
    if rows == 0:
        raise EmptySpanError(f"span {span}: {directory} holds a header but no data rows")
    return SpanCheck(span=span, files=files, rows=rows)

"""Cut a source CSV into span files laid out as `CsvExampleGen` reads them (`span-{SPAN}/`).

Values are copied as text (no float round-trips of integer ids); only the label is computed.
Each span is written to a temporary directory and renamed into place, so an interrupted
prepare never leaves a half-written span.
"""

from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ml_lifecycle.base.errors import DataError
from ml_lifecycle.base.text import where_not_utf8
from ml_lifecycle.config.dataset import DatasetConfig
from ml_lifecycle.datasets.span_files import as_float_text, write_span


@dataclass(frozen=True)
class PreparedSpan:
    span: int
    period: str
    rows: int
    path: Path


def span_numbers(timestamps: pd.Series, config: DatasetConfig) -> tuple[np.ndarray, pd.Series]:
    """Maps time values to 1-based span numbers (span 1 = the period holding `origin`)."""
    numbers, periods = _spans_of_dates(pd.to_datetime(timestamps, unit=config.spans.time_unit), config)
    return numbers, periods.astype(str)


def _spans_of_dates(dates: pd.Series, config: DatasetConfig) -> tuple[np.ndarray, pd.Series]:
    """1-based span numbers of datetimes, and their periods (formatted only where shown: turning
    a million periods into text takes seconds)."""
    spans = config.spans
    freq = {"month": "M", "quarter": "Q", "year": "Y"}[spans.period]
    periods = dates.dt.to_period(freq)
    origin = pd.Period(pd.Timestamp(spans.origin), freq=freq)
    # Period ordinals count periods of `freq`, so their difference is `(period - origin).n`.
    numbers = periods.array.asi8 - origin.ordinal + 1
    return numbers, periods


def read_source(config: DatasetConfig) -> pd.DataFrame:
    """Reads the source CSV as text, checking that every configured column is present."""
    source = config.resolve_source()
    if not source.is_file():
        raise DataError(f"{source}: source CSV not found")
    try:
        frame = pd.read_csv(source, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError as error:
        raise DataError(f"{source}: the source CSV is empty (expected a header row, then rows)") from error
    except UnicodeDecodeError as error:
        raise DataError(f"{source}: {where_not_utf8(source)}") from error
    except pd.errors.ParserError as error:
        raise DataError(f"{source}: malformed CSV: {error}") from error
    except OSError as error:
        raise DataError(f"{source}: cannot read the source CSV: {error.strerror or error}") from error
    needed = config.features.all_names() + [config.spans.time_column]
    if not config.label.expression:
        needed.append(config.label.name)
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise DataError(f"{source}: missing column(s) {missing}; the header has {list(frame.columns)}")
    return frame


def _first_row(mask: pd.Series | np.ndarray) -> int:
    """The position of the first True in `mask` (0 is the row after the header)."""
    return int(np.flatnonzero(np.asarray(mask))[0])


def _numeric_if_parsable(column: pd.Series) -> pd.Series:
    """Numbers for columns whose non-empty cells all parse as numbers; text columns stay text,
    so expressions such as `weather == 'rain'` work."""
    numbers = pd.to_numeric(column, errors="coerce")
    unparsed = numbers.isna() & (column != "")
    return column if unparsed.any() else numbers


def _read_times(frame: pd.DataFrame, config: DatasetConfig) -> pd.Series:
    """The time column as datetimes; the first row that is not a number, or not a date pandas can
    hold, is named."""
    time_column, unit = config.spans.time_column, config.spans.time_unit
    cells = frame[time_column]
    times = pd.to_numeric(cells, errors="coerce")
    bad = times.isna()
    if bad.any():
        row = _first_row(bad)
        raise _time_cell_error(config, row, f"expected a timestamp in {unit}, got {cells.iloc[row]!r}")
    # pandas holds dates from 1677 to 2262 only: beyond that an integer column fails to convert
    # and a float one turns into NaT, so such rows are named here rather than crash the cut. The
    # plain conversion is the one kept; the slower coercing one runs only to find the bad row.
    dates = None
    # A uint64 column (a value above the int64 range) would wrap round instead of failing.
    if times.dtype.kind != "u":
        try:
            with np.errstate(invalid="ignore"):
                dates = pd.to_datetime(times, unit=unit)
        except pd.errors.OutOfBoundsDatetime:
            pass
    if dates is None or dates.isna().any():
        with np.errstate(invalid="ignore"):
            out_of_range = pd.to_datetime(times, unit=unit, errors="coerce").isna()
        if not out_of_range.any() and dates is not None:
            # Coercing wraps a float a fraction of a second past either end round to the other
            # end, where the plain conversion gives NaT.
            out_of_range = dates.isna()
        if out_of_range.any():
            row = _first_row(out_of_range)
            raise _time_cell_error(
                config,
                row,
                f"timestamp {cells.iloc[row]!r} is outside the dates pandas can hold "
                f"({pd.Timestamp.min:%Y-%m-%d} to {pd.Timestamp.max:%Y-%m-%d}) when read in "
                f"{unit}; is spans.time_unit right?",
            )
    # Refused with no row out of range (not seen): converting again raises pandas' own error.
    return pd.to_datetime(times, unit=unit) if dates is None else dates


def _time_cell_error(config: DatasetConfig, row: int, problem: str) -> DataError:
    """A DataError naming the source, the row (0 is the one after the header) and the time column."""
    return DataError(
        f"{config.resolve_source()}: row {row + 2}, column {config.spans.time_column!r}: {problem}"
    )


def compute_label(frame: pd.DataFrame, config: DatasetConfig) -> pd.Series:
    """The 0/1 label: the configured expression over numeric source columns, or the column itself."""
    label = config.label
    if not label.expression:
        return frame[label.name]
    try:
        values = frame.apply(_numeric_if_parsable).eval(label.expression)
    except Exception as error:  # pandas raises many types for a bad expression
        raise DataError(f"label.expression {label.expression!r}: {error}") from error
    return values.fillna(False).astype(np.int64).astype(str)


# Marks a span directory as cut from the dataset's source by `prepare_spans` (not *.csv: ExampleGen
# and the pre-flight check read only span-N/*.csv).
SOURCE_MARKER = ".prepared-from-source"


def prepare_spans(config: DatasetConfig, data_root: Path) -> list[PreparedSpan]:
    """Writes one CSV per span under `data_root/span-N/data.csv`; returns what was written."""
    frame = read_source(config)
    numbers, periods = _spans_of_dates(_read_times(frame, config), config)
    if (numbers < 1).any():
        first = _first_row(numbers < 1)
        raise DataError(
            f"{config.resolve_source()}: row {first + 2} falls before spans.origin "
            f"{config.spans.origin} ({periods.iloc[first]})"
        )
    out = frame[config.features.all_names()].copy()
    for name in config.features.numeric + config.features.bucketized:
        out[name] = out[name].map(as_float_text)
    out[config.label.name] = compute_label(frame, config)

    data_root = Path(data_root)
    data_root.mkdir(parents=True, exist_ok=True)
    # Spans from an earlier prepare that this one does not write would otherwise linger and be
    # read by schema bootstrap (span-*) or a run of that span. Only spans cut from the source are
    # removed: others (e.g. `lifecycle review export`) carry no marker and are left alone.
    wanted = {f"span-{span}" for span in set(numbers.tolist())}
    for stale in data_root.glob("span-*"):
        if stale.is_dir() and stale.name not in wanted and (stale / SOURCE_MARKER).exists():
            shutil.rmtree(stale)
    prepared = []
    for span in sorted(set(numbers.tolist())):
        rows = out[numbers == span]
        path = write_span(
            data_root,
            span,
            lambda path, rows=rows: rows.to_csv(path, index=False, quoting=csv.QUOTE_MINIMAL),
            staging_name=f".staging-span-{span}",
            extra_files={SOURCE_MARKER: f"{config.resolve_source()}\n"},
        )
        period = str(periods[numbers == span].iloc[0])
        prepared.append(PreparedSpan(span, period, len(rows), path))
    return prepared

"""The time column as datetimes, read as `spans.time_format` says; a cell that is not is named.

`epoch_s` / `epoch_ms`: numbers since 1970-01-01 UTC. `iso`: ISO-8601 dates (2007-11-11) or
datetimes (2007-11-11T08:30:00, 2007-11-11 08:30), an offset (+05:00, Z) converted to UTC. A
strftime pattern: exactly that. `auto`: epoch seconds when every cell is a number, else ISO-8601.
The result is naive, in UTC. Every row needs a time: a missing one is an error.

A pattern is tried on a known time before any cell (formatted with it, then parsed back), so
one pandas cannot read with ('%Q', '%s', '%-d') is named as spans.time_format, not as row 1.

The plain conversion runs once over the column; a coercing one runs only when it fails, to find
the first bad row, which `where(row)` names ('<file>: row <n>').
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable

import numpy as np
import pandas as pd

from ml_lifecycle.base.errors import DataError
from ml_lifecycle.datasets.sources import default_where, first_row

_EPOCH_UNITS = {"epoch_s": ("s", "epoch seconds"), "epoch_ms": ("ms", "epoch milliseconds")}
# What `iso` accepts. pandas 1.5 parses more than this (`11/11/2007`, `20071111`) without a word,
# so the text is checked first.
_ISO_8601 = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?"
)
_ISO_EXPECTED = "a date in ISO-8601 (e.g. 2007-11-11)"
# pandas 1.5 reads an ISO-like pattern ('%Y-%m-%d') with its lenient ISO parser (accepting
# '2007-11-11 08:30' for it); behind a literal first character the pattern goes to strptime,
# which is exact.
_LITERAL = "\x01"
_BOUNDS = f"({pd.Timestamp.min:%Y-%m-%d} to {pd.Timestamp.max:%Y-%m-%d})"
# The time a pattern is tried on: aware (so %z and %Z have a value), every field distinct.
_PROBE_TIME = datetime.datetime(2007, 11, 12, 13, 14, 15, 123456, tzinfo=datetime.timezone.utc)


def parse_times(
    cells: pd.Series, time_format: str, column: str, where: Callable[[int], str] = default_where
) -> pd.Series:
    """Datetimes (naive, UTC) of `cells`: text ("" missing) or numbers (NaN missing)."""

    def error(row: int, problem: str) -> DataError:
        return DataError(f"{where(row)}, column {column!r}: {problem}")

    if time_format not in ("auto", "iso", *_EPOCH_UNITS):
        _check_pattern(time_format)
    is_text = cells.dtype == object
    missing = (cells == "") if is_text else cells.isna()
    if missing.any():
        raise error(
            first_row(missing),
            "no time (an empty cell or one of na_values): every row needs one to fall in a span",
        )
    if time_format == "auto":
        numbers = pd.to_numeric(cells, errors="coerce") if is_text else cells
        if numbers.notna().all():
            return _epoch_times(cells, numbers, "epoch_s", error)
        return _iso_times(cells, error, hint=True)
    if time_format in _EPOCH_UNITS:
        return _epoch_times(cells, None, time_format, error)
    if time_format == "iso":
        return _iso_times(cells, error, hint=False)
    return _pattern_times(cells, time_format, error)


def _epoch_times(
    cells: pd.Series, numbers: pd.Series | None, time_format: str, error: Callable[[int, str], DataError]
) -> pd.Series:
    """Epoch numbers as datetimes; the first cell that is not a number, or not a date pandas can
    hold, is named."""
    unit, described = _EPOCH_UNITS[time_format]
    times = pd.to_numeric(cells, errors="coerce") if numbers is None else numbers
    bad = times.isna()
    if bad.any():
        row = first_row(bad)
        raise error(row, f"expected {described} (spans.time_format {time_format}), got {cells.iloc[row]!r}")
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
            row = first_row(out_of_range)
            raise error(
                row,
                f"timestamp {cells.iloc[row]!r} is outside the dates pandas can hold {_BOUNDS} when "
                f"read as {described}; is spans.time_format right?",
            )
    # Refused with no row out of range (not seen): converting again raises pandas' own error.
    return pd.to_datetime(times, unit=unit) if dates is None else dates


def _iso_times(cells: pd.Series, error: Callable[[int, str], DataError], *, hint: bool) -> pd.Series:
    # Checked and parsed per distinct value: a time column repeats values (taxi's are 15-minute
    # steps).
    codes, distinct = pd.factorize(cells)
    not_iso = ~pd.Series(distinct, dtype=object).str.fullmatch(_ISO_8601).to_numpy(dtype=bool)
    expected = _ISO_EXPECTED
    if hint:
        expected += " (spans.time_format auto reads a column that is not all numbers as ISO-8601)"
    # utc=True: offsets converted (mixed ones too); a time without one is taken as UTC.
    return _parsed(cells, codes, pd.Index(distinct), not_iso, {"utc": True}, expected, error)


def _check_pattern(pattern: str) -> None:
    """Refuses a pattern pandas cannot parse its own strftime output with: a bad directive ('%Q'),
    a stray '%', or one strftime knows and strptime does not ('%s', '%-d')."""
    try:
        probe = _PROBE_TIME.strftime(pattern)
        pd.to_datetime([_LITERAL + probe], format=_LITERAL + pattern, exact=True, utc=True)
    except (ValueError, OverflowError) as error:  # strftime's and pandas' errors for a bad pattern
        raise DataError(
            f"spans.time_format {pattern!r}: not a strftime pattern pandas can read times with "
            f"({str(error).replace(_LITERAL, '')})"
        ) from error


def _pattern_times(cells: pd.Series, pattern: str, error: Callable[[int, str], DataError]) -> pd.Series:
    codes, distinct = pd.factorize(cells)
    literal = pd.Index(_LITERAL + pd.Series(distinct, dtype=object))
    expected = f"a time in the format {pattern!r} (spans.time_format)"
    options = {"format": _LITERAL + pattern, "exact": True, "utc": True}
    return _parsed(cells, codes, literal, np.zeros(len(literal), dtype=bool), options, expected, error)


def _parsed(
    cells: pd.Series,
    codes: np.ndarray,
    distinct: pd.Index,
    rejected: np.ndarray,
    options: dict,
    expected: str,
    error: Callable[[int, str], DataError],
) -> pd.Series:
    """Parses the distinct values with `options` and spreads them over the rows; or names the
    first row whose value is `rejected` or does not parse."""

    def spread(parsed: pd.DatetimeIndex) -> pd.Series:
        # Parsed with utc=True: UTC, then naive as the span periods want.
        return pd.Series(parsed.take(codes).tz_localize(None), index=cells.index)

    if not rejected.any():
        try:
            return spread(pd.to_datetime(distinct, **options))
        except (ValueError, OverflowError):  # pandas' parse errors and OutOfBoundsDatetime
            pass
    candidates = distinct.where(~rejected)  # rejected values become NaN, then NaT
    failed = rejected | np.asarray(pd.to_datetime(candidates, errors="coerce", **options).isna())
    if not failed.any():  # not seen: the coercing parse took all the plain one refused
        return spread(pd.to_datetime(distinct, **options))  # raises the plain parse's error
    row = first_row(failed[codes])
    cell = cells.iloc[row]
    if not rejected[codes[row]]:
        try:
            pd.to_datetime([distinct[codes[row]]], **options)
        except pd.errors.OutOfBoundsDatetime:
            raise error(row, f"{cell!r} is outside the dates pandas can hold {_BOUNDS}") from None
        except (ValueError, OverflowError):
            pass
    raise error(row, f"expected {expected}, got {cell!r}")

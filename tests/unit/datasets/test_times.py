"""The time column per spans.time_format: ISO-8601 (offsets to UTC), strftime patterns, epoch
numbers, auto detection, and DataErrors that name the row and column of a bad cell."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from ml_lifecycle.base.errors import DataError
from ml_lifecycle.datasets.times import parse_times


def _parse(cells, time_format="auto", where=None):
    series = pd.Series(cells, dtype=object)
    if where is None:
        return parse_times(series, time_format, "date").tolist()
    return parse_times(series, time_format, "date", where).tolist()


def _stamps(*texts):
    return [pd.Timestamp(t) for t in texts]


@pytest.mark.parametrize("time_format", ["iso", "auto"])
def test_iso_dates_and_datetimes_with_and_without_offsets(time_format):
    cells = [
        "2007-11-11",
        "2007-11-11T08:30:00",
        "2007-11-11 08:30",
        "2007-11-11T08:30:00+05:00",  # converted to UTC, then the zone dropped
        "2007-11-11T23:30:00-02:00",  # the next day in UTC
        "2007-11-11T08:30:00Z",
        "2007-11-11T08:30:00.250",
    ]

    assert _parse(cells, time_format) == _stamps(
        "2007-11-11",
        "2007-11-11 08:30",
        "2007-11-11 08:30",
        "2007-11-11 03:30",
        "2007-11-12 01:30",
        "2007-11-11 08:30",
        "2007-11-11 08:30:00.250",
    )


def test_repeated_values_map_back_to_their_rows():
    cells = ["2013-02-01", "2013-01-01", "2013-02-01", "2013-03-01", "2013-01-01"]

    assert _parse(cells, "iso") == _stamps(*cells)


@pytest.mark.parametrize(
    ("time_format", "bad"),
    [
        ("iso", "11/11/2007"),
        ("iso", "20071111"),  # pandas alone would take these two
        ("iso", "2007-11-11 8:30"),
        ("iso", "yesterday"),
        ("iso", "2007-13-01"),  # ISO-shaped, no such month
    ],
)
def test_non_iso_cell_names_row_and_column(time_format, bad):
    where = {2: "raw/b.csv: row 7"}.__getitem__

    with pytest.raises(
        DataError,
        match=rf"^raw/b\.csv: row 7, column 'date': expected a date in ISO-8601 \(e\.g\. 2007-11-11\), "
        rf"got '{re.escape(bad)}'$",
    ):
        _parse(["2007-11-11", "2007-11-12", bad, "also bad"], time_format, where)


def test_auto_error_says_why_the_column_was_read_as_iso():
    with pytest.raises(
        DataError,
        match=r"row 3, column 'date': expected a date in ISO-8601 \(e\.g\. 2007-11-11\) \(spans\.time_format "
        r"auto reads a column that is not all numbers as ISO-8601\), got '11/11/2007'",
    ):
        _parse(["2007-11-11", "11/11/2007"], "auto")


def test_iso_date_beyond_pandas_dates_is_named():
    with pytest.raises(
        DataError,
        match=r"^row 3, column 'date': '1500-01-01' is outside the dates pandas can hold "
        r"\(1677-09-21 to 2262-04-11\)$",
    ):
        _parse(["2007-11-11", "1500-01-01"], "iso")


@pytest.mark.parametrize(
    ("pattern", "cells", "expected"),
    [
        ("%d/%m/%Y", ["11/12/2007", "01/02/2008"], ["2007-12-11", "2008-02-01"]),
        ("%d/%m/%Y %H:%M", ["11/12/2007 08:30"], ["2007-12-11 08:30"]),
        (
            "%Y-%m-%d %H:%M%z",
            ["2007-11-12 08:30+0100", "2007-11-12 08:30-0200"],
            ["2007-11-12 07:30", "2007-11-12 10:30"],
        ),
        ("%Y%m%d", ["20071112"], ["2007-11-12"]),
    ],
)
def test_strftime_pattern(pattern, cells, expected):
    assert _parse(cells, pattern) == _stamps(*expected)


@pytest.mark.parametrize(
    ("pattern", "bad"),
    [
        ("%d/%m/%Y", "2007-11-12"),
        ("%d/%m/%Y", "11/12/2007 08:30"),  # exact: nothing may follow
        ("%Y-%m-%d", "2007-11-12 08:30"),  # an ISO-like pattern is exact too (pandas 1.5 is lenient)
    ],
)
def test_cell_not_in_the_pattern_names_row_and_column(pattern, bad):
    with pytest.raises(
        DataError,
        match=rf"^row 2, column 'date': expected a time in the format '{re.escape(pattern)}' "
        rf"\(spans\.time_format\), got '{re.escape(bad)}'$",
    ):
        _parse([bad], pattern)


def test_auto_reads_numbers_as_epoch_seconds(epoch_seconds):
    cells = [str(epoch_seconds("2013-01-15")), str(epoch_seconds("2014-06-01") + 90)]

    assert _parse(cells, "auto") == _stamps("2013-01-15", "2014-06-01 00:01:30")


def test_epoch_milliseconds(epoch_seconds):
    assert _parse([str(epoch_seconds("2013-01-15") * 1000 + 500)], "epoch_ms") == _stamps(
        "2013-01-15 00:00:00.5"
    )


def test_numbers_already_parsed_are_read_too(epoch_seconds):
    times = pd.Series([float(epoch_seconds("2013-01-15"))])

    assert parse_times(times, "epoch_s", "ts").tolist() == _stamps("2013-01-15")


@pytest.mark.parametrize("time_format", ["auto", "iso", "epoch_s", "%Y"])
def test_missing_time_is_an_error(time_format):
    with pytest.raises(
        DataError, match=r"^row 3, column 'date': no time \(an empty cell or one of na_values\)"
    ):
        _parse(["2013", "", "2014"] if time_format == "%Y" else ["2013-01-01", "", "x"], time_format)


def test_epoch_format_names_a_date_cell():
    with pytest.raises(
        DataError,
        match=r"^row 2, column 'date': expected epoch milliseconds \(spans\.time_format epoch_ms\), "
        r"got '2013-01-01'$",
    ):
        _parse(["2013-01-01"], "epoch_ms")


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("%Q", "'Q' is a bad directive in format '%Q'"),
        ("%d/%m/%Y %", "stray % in format '%d/%m/%Y %'"),
        # strftime writes epoch seconds for %s; pandas' parser has no such directive
        ("%s", "'s' is a bad directive in format '%s'"),
        ("%-d/%m/%Y", "'-' is a bad directive in format '%-d/%m/%Y'"),
    ],
)
def test_unusable_pattern_is_named_before_any_cell(pattern, problem):
    with pytest.raises(
        DataError,
        match=rf"^spans\.time_format {re.escape(repr(pattern))}: not a strftime pattern pandas can "
        rf"read times with \({re.escape(problem)}\)$",
    ):
        # Named before the cells are looked at: the empty one would otherwise be the error.
        _parse(["11/12/2007", "", "12/12/2007"], pattern)

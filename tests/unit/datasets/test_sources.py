"""Reading the source: CSV globs with one header, Parquet files and directories as text cells,
na_values blanked, and errors that name the file (and the file's own row)."""

from __future__ import annotations

import datetime
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ml_lifecycle.base.errors import DataError
from ml_lifecycle.datasets.sources import integer_text, load_source

HEADER = ["ts", "fare", "lat", "hour", "payment", "tips"]


def _rows(*fares):
    return [["1358000000", fare, "41.9", "5", "Cash", "1"] for fare in fares]


def _parquet_config(tiny_dataset_config, source="trips.parquet", **overrides):
    return tiny_dataset_config(source_csv=None, source_parquet=source, **overrides)


# --- CSV globs ----------------------------------------------------------------------------------


def test_glob_reads_every_file_in_sorted_order(tmp_path, tiny_dataset_config, write_csv):
    write_csv(tmp_path / "raw" / "b.csv", HEADER, _rows("3", "4", "5"))
    write_csv(tmp_path / "raw" / "a.csv", HEADER, _rows("1", "2"))
    # More files, written out of order, so directory order is unlikely to pass for sorted order.
    for name in ["m", "e", "x", "c", "q", "d"]:
        write_csv(tmp_path / "raw" / f"{name}.csv", HEADER, _rows(name))
    (tmp_path / "raw" / "notes.txt").write_text("not matched")

    source = load_source(tiny_dataset_config(source_csv="raw/*.csv"))

    assert source.frame["fare"].tolist() == ["1", "2", "3", "4", "5", "c", "d", "e", "m", "q", "x"]
    assert source.files[:2] == (tmp_path / "raw" / "a.csv", tmp_path / "raw" / "b.csv")
    # Rows are named in the file that holds them, row 2 being its first data row.
    assert source.where(0) == f"{tmp_path / 'raw' / 'a.csv'}: row 2"
    assert source.where(1) == f"{tmp_path / 'raw' / 'a.csv'}: row 3"
    assert source.where(2) == f"{tmp_path / 'raw' / 'b.csv'}: row 2"
    assert source.where(4) == f"{tmp_path / 'raw' / 'b.csv'}: row 4"


@pytest.mark.parametrize(
    ("header", "difference"),
    [
        (HEADER[:-1], "missing column(s) ['tips']"),
        (HEADER + ["company"], "extra column(s) ['company']"),
        (["fare", "ts", *HEADER[2:]], "the same columns in another order ['fare', 'ts',"),
    ],
)
def test_glob_file_with_another_header_is_named(tmp_path, tiny_dataset_config, write_csv, header, difference):
    write_csv(tmp_path / "raw" / "a.csv", HEADER, _rows("1"))
    write_csv(tmp_path / "raw" / "b.csv", header, [["1"] * len(header)])

    with pytest.raises(
        DataError,
        match=rf"^{re.escape(str(tmp_path / 'raw' / 'b.csv'))}: header differs from "
        rf"{re.escape(str(tmp_path / 'raw' / 'a.csv'))}'s: {re.escape(difference)}",
    ):
        load_source(tiny_dataset_config(source_csv="raw/*.csv"))


def test_glob_matching_nothing_names_the_pattern(tmp_path, tiny_dataset_config):
    (tmp_path / "raw").mkdir()

    with pytest.raises(
        DataError,
        match=rf"^source_csv 'raw/\*\.csv': no file matches {re.escape(str(tmp_path / 'raw' / '*.csv'))}$",
    ):
        load_source(tiny_dataset_config(source_csv="raw/*.csv"))


def test_empty_file_in_a_glob_is_named(tmp_path, tiny_dataset_config, write_csv):
    write_csv(tmp_path / "raw" / "a.csv", HEADER, _rows("1"))
    (tmp_path / "raw" / "b.csv").write_text("")

    with pytest.raises(
        DataError, match=rf"^{re.escape(str(tmp_path / 'raw' / 'b.csv'))}: the source CSV is empty"
    ):
        load_source(tiny_dataset_config(source_csv="raw/*.csv"))


# --- na_values ----------------------------------------------------------------------------------


def test_na_values_become_empty_cells_whitespace_aside(tiny_dataset_config, tiny_source_csv):
    tiny_source_csv(
        header=HEADER + ["company"],
        rows=[
            ["1358000000", "NA", " N/A ", "null", "None", "nan", "NA"],
            ["1358000000", "NaN", "41.9", "5", "NULL", "1", "NA"],
            ["1358000000", "na", "  ", "5", "Cash ", "1", "NA"],
        ],
    )

    frame = load_source(tiny_dataset_config()).frame

    assert frame[["fare", "lat", "hour", "payment", "tips"]].values.tolist() == [
        ["", "", "", "", ""],
        ["", "41.9", "5", "", "1"],
        # 'na' is no default token; a whitespace-only cell is empty; text keeps its own spaces
        ["na", "", "5", "Cash ", "1"],
    ]
    # Columns prepare does not use are left as read.
    assert frame["company"].tolist() == ["NA", "NA", "NA"]


def test_configured_na_values_replace_the_defaults(tiny_dataset_config, tiny_source_csv):
    tiny_source_csv(header=HEADER, rows=[["1358000000", "?", "NA", "-", "Cash", "1"]])

    frame = load_source(tiny_dataset_config(na_values=["?", "-"])).frame

    assert frame[["fare", "lat", "hour"]].values.tolist() == [["", "NA", ""]]


def test_numeric_na_values_match_cells_of_the_same_number(tmp_path, tiny_dataset_config):
    # A pandas integer column with nulls reaches Parquet as floats: its -999 sentinel reads '-999.0'.
    _write_parquet(
        tmp_path / "trips.parquet",
        {
            "ts": [1358000000] * 3,
            "fare": pa.array([-999.0, 3.5, -999.5]),
            "lat": pa.array([" -999 ", "-9.99e2", "-9990"]),
            "hour": pa.array([-999, 5, None], pa.int64()),
            "payment": ["-999.0", "Cash", "-999x"],
            "tips": [1, 1, 1],
        },
    )

    frame = load_source(_parquet_config(tiny_dataset_config, na_values=[-999, "?"])).frame

    assert frame[["fare", "lat", "hour", "payment"]].values.tolist() == [
        ["", "", "", ""],
        ["3.5", "", "5", "Cash"],
        ["-999.5", "-9990", "", "-999x"],
    ]


# --- Parquet ------------------------------------------------------------------------------------


def _write_parquet(path, columns):
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)
    return path


def test_parquet_cells_read_as_a_csv_would_hold_them(tmp_path, tiny_dataset_config):
    _write_parquet(
        tmp_path / "trips.parquet",
        {
            # Aware timestamps are stored in UTC: the Chicago zone is dropped, the UTC time kept.
            "ts": pa.array(
                [datetime.datetime(2013, 1, 5, 23, 30), datetime.datetime(2013, 4, 1, 1, 0, 0, 250000), None],
                pa.timestamp("us", tz="America/Chicago"),
            ),
            "fare": pa.array([0.1, float("nan"), 3.0]),
            "lat": pa.array([0.1, None, 1e20], pa.float32()),
            "hour": pa.array([1, None, 3], pa.int64()),  # an int column with a null stays ints
            "payment": pa.array(["Cash", None, "NA"]).dictionary_encode(),
            "tips": pa.array([True, False, None]),
            "day": pa.array([datetime.date(2013, 1, 5), None, datetime.date(2013, 7, 1)], pa.date32()),
            "big": pa.array([2**63 - 1, 0, None], pa.uint64()),
        },
    )

    source = load_source(_parquet_config(tiny_dataset_config))

    assert source.frame.to_dict("list") == {
        "ts": ["2013-01-05 23:30:00", "2013-04-01 01:00:00.250000", ""],
        "fare": ["0.1", "", "3.0"],
        "lat": ["0.1", "", "1e+20"],
        "hour": ["1", "", "3"],
        "payment": ["Cash", "", ""],
        "tips": ["1", "0", ""],
        "day": ["2013-01-05", "", "2013-07-01"],
        "big": [str(2**63 - 1), "0", ""],
    }
    assert source.timestamp_columns == {"ts", "day"}
    # Parquet has no header line: row 1 is the first record.
    assert source.where(2) == f"{tmp_path / 'trips.parquet'}: row 3"


def test_parquet_directory_reads_every_file_in_sorted_order(tmp_path, tiny_dataset_config):
    def part(fares, order=("ts", "fare", "lat", "hour", "payment", "tips")):
        columns = {
            "ts": [1358000000] * len(fares),
            "fare": fares,
            "lat": [41.9] * len(fares),
            "hour": [5] * len(fares),
            "payment": ["Cash"] * len(fares),
            "tips": [1.5] * len(fares),
        }
        return {name: columns[name] for name in order}

    _write_parquet(tmp_path / "trips" / "part-1.parquet", part([3.5]))
    # Columns in another order are the same columns: Parquet names them.
    _write_parquet(
        tmp_path / "trips" / "part-0.parquet",
        part([1.5, 2.5], order=("fare", "ts", "lat", "hour", "payment", "tips")),
    )
    _write_parquet(tmp_path / "trips" / "_ignored" / "x.parquet", part([99.0]))
    (tmp_path / "trips" / "_SUCCESS").write_text("")

    source = load_source(_parquet_config(tiny_dataset_config, "trips"))

    assert source.frame["fare"].tolist() == ["1.5", "2.5", "3.5"]
    assert list(source.frame.columns) == ["fare", "ts", "lat", "hour", "payment", "tips"]
    assert source.where(2) == f"{tmp_path / 'trips' / 'part-1.parquet'}: row 1"


def test_parquet_file_with_other_columns_is_named(tmp_path, tiny_dataset_config):
    base = {"ts": [1], "fare": [1.0], "lat": [1.0], "hour": [1], "payment": ["Cash"], "tips": [1.0]}
    _write_parquet(tmp_path / "trips" / "a.parquet", base)
    _write_parquet(tmp_path / "trips" / "b.parquet", {**base, "company": ["Flash"]})

    with pytest.raises(
        DataError,
        match=rf"^{re.escape(str(tmp_path / 'trips' / 'b.parquet'))}: columns differ from .*a\.parquet's: "
        r"extra column\(s\) \['company'\]",
    ):
        load_source(_parquet_config(tiny_dataset_config, "trips"))


def test_parquet_column_with_no_cell_form_is_refused_only_when_used(tmp_path, tiny_dataset_config):
    base = {"ts": [1], "fare": [1.0], "lat": [1.0], "hour": [1], "payment": ["Cash"], "tips": [1.0]}
    _write_parquet(tmp_path / "trips.parquet", {**base, "tags": pa.array([[1, 2]])})

    assert "tags" not in load_source(_parquet_config(tiny_dataset_config)).frame.columns

    _write_parquet(tmp_path / "trips.parquet", {**base, "payment": pa.array([[1, 2]])})
    with pytest.raises(
        DataError,
        match=rf"^{re.escape(str(tmp_path / 'trips.parquet'))}: column 'payment' holds list<item: int64>, "
        "which has no CSV cell form",
    ):
        load_source(_parquet_config(tiny_dataset_config))


def test_parquet_missing_column_is_named(tmp_path, tiny_dataset_config):
    _write_parquet(tmp_path / "trips.parquet", {"ts": [1], "fare": [1.0]})

    with pytest.raises(
        DataError,
        match=rf"^{re.escape(str(tmp_path / 'trips.parquet'))}: missing column\(s\) \['lat', 'hour'",
    ):
        load_source(_parquet_config(tiny_dataset_config))


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda path: None, "source Parquet not found"),
        (lambda path: path.mkdir(), "no \\*\\.parquet files in the source_parquet directory"),
        (lambda path: path.write_bytes(b"not parquet at all"), "cannot read it as Parquet: "),
    ],
)
def test_unreadable_parquet_source_is_named(tmp_path, tiny_dataset_config, make, problem):
    make(tmp_path / "trips.parquet")

    with pytest.raises(DataError, match=rf"^{re.escape(str(tmp_path / 'trips.parquet'))}: {problem}"):
        load_source(_parquet_config(tiny_dataset_config))


# --- integer cells --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (" 07 ", "07"),  # integer text as written, stripped
        ("7.0", "7"),  # how pandas writes an integer column with nulls
        ("1e1", "10"),
        ("-0.0", "0"),
        ("9007199254740993.0", "9007199254740993"),  # above 2**53: a float would make it ...992
        ("", ""),
        ("2.5", None),
        ("inf", None),
        ("nan", None),
        ("1e30", None),  # beyond int64
        ("seven", None),
    ],
)
def test_integer_text(text, expected):
    assert integer_text(text) == expected

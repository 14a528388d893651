"""`prepare_spans` over real-world sources: CSV globs, Parquet, na_values, time formats, label
tasks and column names with spaces or accents; what it writes passes the pre-flight check."""

from __future__ import annotations

import datetime
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ml_lifecycle.base.errors import DataError
from ml_lifecycle.datasets.check import check_span
from ml_lifecycle.datasets.prepare import prepare_spans
from ml_lifecycle.datasets.span_files import SPAN_FILE_NAME

PENGUIN_FEATURES = {"numeric": ["Body Mass (g)", "größe"], "categorical_string": ["island"]}
PENGUIN_HEADER = ["date", "Body Mass (g)", "größe", "island", "species"]
SPANS = {"time_column": "date", "period": "quarter", "origin": "2007-10-01"}


def _penguins(tiny_dataset_config, **overrides):
    settings = {
        "source_csv": "raw/*.csv",
        "label": {"name": "species", "task": "multiclass"},
        "features": PENGUIN_FEATURES,
        "spans": SPANS,
        "evaluation": {},
    }
    return tiny_dataset_config(**{**settings, **overrides})


def _spans(prepared):
    return [(s.span, s.period, s.rows, s.dropped_unlabelled) for s in prepared]


def _check_all(config, data_root, prepared):
    return [check_span(config, data_root, s.span).rows for s in prepared]


def test_glob_of_csv_files_with_iso_dates(tmp_path, tiny_dataset_config, write_csv, read_csv):
    write_csv(
        tmp_path / "raw" / "a.csv",
        PENGUIN_HEADER,
        [
            ["2007-11-11", "3750", "1.5", "Torgersen", "Adelie"],
            ["2007-11-11T22:30:00-05:00", "3800", "2", "Biscoe", "Gentoo"],  # 2007-11-12 in UTC
        ],
    )
    write_csv(
        tmp_path / "raw" / "b.csv", PENGUIN_HEADER, [["2008-01-02 08:30", "4000", "", "Dream", "Adelie"]]
    )
    config = _penguins(tiny_dataset_config)

    prepared = prepare_spans(config, tmp_path / "data")

    assert _spans(prepared) == [(1, "2007Q4", 2, 0), (2, "2008Q1", 1, 0)]
    # Column names are kept as written; numbers as float text.
    assert read_csv(prepared[0].path) == [
        ["Body Mass (g)", "größe", "island", "species"],
        ["3750.0", "1.5", "Torgersen", "Adelie"],
        ["3800.0", "2.0", "Biscoe", "Gentoo"],
    ]
    assert _check_all(config, tmp_path / "data", prepared) == [2, 1]


def test_bad_time_cell_in_a_glob_names_its_file_row_and_column_and_writes_nothing(
    tmp_path, tiny_dataset_config, write_csv
):
    good = ["2007-11-11", "3750", "1.5", "Torgersen", "Adelie"]
    write_csv(tmp_path / "raw" / "a.csv", PENGUIN_HEADER, [good] * 3)
    write_csv(tmp_path / "raw" / "b.csv", PENGUIN_HEADER, [good] * 5 + [["11/11/2007", *good[1:]]])
    config = _penguins(tiny_dataset_config, spans={**SPANS, "time_format": "iso"})

    with pytest.raises(
        DataError,
        match=rf"^{re.escape(str(tmp_path / 'raw' / 'b.csv'))}: row 7, column 'date': expected a date in "
        r"ISO-8601 \(e\.g\. 2007-11-11\), got '11/11/2007'$",
    ):
        prepare_spans(config, tmp_path / "data")
    assert not (tmp_path / "data").exists()


def test_strftime_pattern(tmp_path, tiny_dataset_config, write_csv):
    rows = [["11/12/2007", "3750", "1", "Dream", "Adelie"], ["02/01/2008", "3750", "1", "Dream", "Adelie"]]
    write_csv(tmp_path / "raw" / "a.csv", PENGUIN_HEADER, rows)
    config = _penguins(tiny_dataset_config, spans={**SPANS, "time_format": "%d/%m/%Y"})

    # 11 December 2007, 2 January 2008 (read as ISO or month-first they would fall elsewhere)
    assert _spans(prepare_spans(config, tmp_path / "data")) == [(1, "2007Q4", 1, 0), (2, "2008Q1", 1, 0)]


def test_na_values_are_empty_cells_and_unlabelled_rows_are_dropped(tmp_path, tiny_dataset_config, write_csv):
    write_csv(
        tmp_path / "raw" / "a.csv",
        PENGUIN_HEADER,
        [
            ["2007-11-11", "NA", "1.5", "Torgersen", "Adelie"],
            ["2007-11-12", "3800", "N/A", "null", "Gentoo"],
            ["2007-11-13", "3900", "2", "Dream", "NA"],  # no label: dropped
            ["2007-11-14", "3900", "2", "Dream", ""],  # no label: dropped
            ["2008-01-02", "4000", "3", "Dream", " None "],  # no label: dropped
            ["2008-01-03", "4100", "4", "Biscoe", "Adelie"],
            ["2008-04-01", "4100", "4", "Biscoe", "NaN"],  # span 3 has no labelled row: not written
        ],
    )
    config = _penguins(tiny_dataset_config)
    data_root = tmp_path / "data"

    prepared = prepare_spans(config, data_root)

    assert _spans(prepared) == [(1, "2007Q4", 2, 2), (2, "2008Q1", 1, 1)]
    assert sorted(p.name for p in data_root.iterdir()) == ["span-1", "span-2"]
    assert (data_root / "span-1" / SPAN_FILE_NAME).read_text(encoding="utf-8").splitlines()[1:] == [
        ",1.5,Torgersen,Adelie",
        "3800.0,,,Gentoo",
    ]
    # 'NA' in a numeric column no longer fails the pre-flight check: the span holds an empty cell.
    assert _check_all(config, data_root, prepared) == [2, 1]


def test_no_labelled_row_at_all_is_an_error(tmp_path, tiny_dataset_config, write_csv):
    write_csv(tmp_path / "raw" / "a.csv", PENGUIN_HEADER, [["2007-11-11", "1", "1", "Dream", "NA"]])

    with pytest.raises(DataError, match=r"a\.csv: no row has a label 'species' .*nothing to prepare"):
        prepare_spans(_penguins(tiny_dataset_config), tmp_path / "data")
    assert not (tmp_path / "data" / "span-1").exists()


def test_multiclass_classes_are_checked(tmp_path, tiny_dataset_config, write_csv):
    rows = [["2007-11-11", "1", "1", "Dream", "Adelie"], ["2007-11-12", "1", "1", "Dream", "Emperor"]]
    write_csv(tmp_path / "raw" / "a.csv", PENGUIN_HEADER, rows)
    config = _penguins(
        tiny_dataset_config, label={"name": "species", "task": "multiclass", "classes": ["Adelie", "Gentoo"]}
    )

    with pytest.raises(
        DataError,
        match=r"a\.csv: row 3, column 'species': class 'Emperor' is not one of label\.classes "
        r"\['Adelie', 'Gentoo'\]$",
    ):
        prepare_spans(config, tmp_path / "data")
    assert not (tmp_path / "data").exists()


def test_regression_label_and_its_bad_value(tmp_path, tiny_dataset_config, write_csv, read_csv):
    header = ["date", "Body Mass (g)", "größe", "island", "flipper, mm"]
    rows = [["2007-11-11", "1", "1", "Dream", "181"], ["2007-11-12", "1", "1", "Dream", "186.5"]]
    write_csv(tmp_path / "raw" / "a.csv", header, rows)
    config = _penguins(tiny_dataset_config, label={"name": "flipper, mm", "task": "regression"})

    prepared = prepare_spans(config, tmp_path / "data")

    # A comma in a column name: quoted in the header, and read back whole.
    assert (
        prepared[0].path.read_text(encoding="utf-8").splitlines()[0]
        == 'Body Mass (g),größe,island,"flipper, mm"'
    )
    assert [row[-1] for row in read_csv(prepared[0].path)] == ["flipper, mm", "181.0", "186.5"]
    assert _check_all(config, tmp_path / "data", prepared) == [2]

    write_csv(tmp_path / "raw" / "a.csv", header, rows + [["2007-11-13", "1", "1", "Dream", "long"]])
    with pytest.raises(
        DataError,
        match=r"a\.csv: row 4, column 'flipper, mm': expected a finite number \(label\.task regression\), "
        r"got 'long'",
    ):
        prepare_spans(config, tmp_path / "data")


def test_parquet_directory_with_a_timestamp_time_column(tmp_path, tiny_dataset_config, read_csv):
    def part(path, times, masses, species):
        path.parent.mkdir(parents=True, exist_ok=True)
        table = {
            "date": pa.array(times, pa.timestamp("ms", tz="Europe/Paris")),
            "Body Mass (g)": pa.array(masses, pa.int32()),
            "größe": pa.array([1.25] * len(times)),
            "island": ["Dream"] * len(times),
            "species": pa.array(species),
        }
        pq.write_table(pa.table(table), path)

    part(tmp_path / "raw" / "p0.parquet", [datetime.datetime(2007, 12, 31, 23, 30)], [3750], ["Adelie"])
    part(
        tmp_path / "raw" / "p1.parquet",
        [datetime.datetime(2008, 1, 1, 0, 30), datetime.datetime(2008, 2, 1)],
        [None, 4000],
        [None, "Gentoo"],
    )
    # A timestamp column is read as such, whatever time_format says about text and numbers.
    config = _penguins(
        tiny_dataset_config, source_csv=None, source_parquet="raw", spans={**SPANS, "time_format": "epoch_ms"}
    )

    prepared = prepare_spans(config, tmp_path / "data")

    assert _spans(prepared) == [(1, "2007Q4", 1, 0), (2, "2008Q1", 1, 1)]
    assert read_csv(prepared[0].path)[1:] == [["3750.0", "1.25", "Dream", "Adelie"]]
    assert read_csv(prepared[1].path)[1:] == [["4000.0", "1.25", "Dream", "Gentoo"]]
    assert _check_all(config, tmp_path / "data", prepared) == [1, 1]


def test_auto_reads_numbers_as_epoch_seconds(tmp_path, tiny_dataset_config, tiny_source_csv, epoch_seconds):
    tiny_source_csv()
    spans = dict(tiny_dataset_config().spans.model_dump(), time_format="auto")

    prepared = prepare_spans(tiny_dataset_config(spans=spans), tmp_path / "data")

    assert [(s.span, s.rows) for s in prepared] == [(1, 2), (2, 1), (5, 1)]


def test_numbers_lose_surrounding_spaces_text_keeps_them(
    tmp_path, tiny_dataset_config, tiny_source_csv, read_csv
):
    # CsvExampleGen would read ' 300 ' as text and type the whole column as a string.
    tiny_source_csv(rows=[["1358000000", " 300 ", "41.9 ", " 07", " Cash", "100", ""]])

    prepared = prepare_spans(tiny_dataset_config(), tmp_path / "data")

    assert read_csv(prepared[0].path)[1:] == [["300.0", "41.9", "07", " Cash", "1"]]


# --- integer roles in a Parquet file pandas wrote (an integer column with nulls is float64) -------


def _pandas_parquet(path, columns):
    import pandas as pd

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(pd.DataFrame(columns), preserve_index=False), path)


def _tiny_parquet_config(tiny_dataset_config, label):
    return tiny_dataset_config(source_csv=None, source_parquet="raw/trips.parquet", label=label)


def _tiny_parquet_columns(epoch_seconds, hours, labels):
    days = ["2013-01-15", "2013-02-01", "2013-03-01"][: len(hours)]
    return {
        "ts": [epoch_seconds(day) for day in days],
        "fare": [10.0] * len(hours),
        "lat": [41.9] * len(hours),
        "hour": hours,
        "payment": ["Cash"] * len(hours),
        "y": labels,
    }


def test_parquet_binary_label_and_categorical_int_with_nulls_are_integer_text(
    tmp_path, tiny_dataset_config, epoch_seconds, read_csv
):
    columns = _tiny_parquet_columns(epoch_seconds, [5, None, 23], [1, 0, None])
    _pandas_parquet(tmp_path / "raw" / "trips.parquet", columns)
    config = _tiny_parquet_config(tiny_dataset_config, {"name": "y"})

    prepared = prepare_spans(config, tmp_path / "data")

    assert read_csv(prepared[0].path)[1:] == [
        ["10.0", "41.9", "5", "Cash", "1"],
        ["10.0", "41.9", "", "Cash", "0"],
    ]
    assert _check_all(config, tmp_path / "data", prepared) == [2]


def test_parquet_multiclass_integer_classes_with_nulls_match_label_classes(
    tmp_path, tiny_dataset_config, epoch_seconds, read_csv
):
    columns = _tiny_parquet_columns(epoch_seconds, [5, 6, 7], [3, None, 1])
    _pandas_parquet(tmp_path / "raw" / "trips.parquet", columns)
    config = _tiny_parquet_config(
        tiny_dataset_config, {"name": "y", "task": "multiclass", "classes": [1, 2, 3]}
    )

    prepared = prepare_spans(config, tmp_path / "data")

    assert [row[-1] for row in read_csv(prepared[0].path)] == ["y", "3", "1"]
    assert _check_all(config, tmp_path / "data", prepared) == [2]


def test_parquet_categorical_int_with_a_fraction_names_file_row_and_column(
    tmp_path, tiny_dataset_config, epoch_seconds
):
    columns = _tiny_parquet_columns(epoch_seconds, [5, None, 2.5], [1, 0, 1])
    _pandas_parquet(tmp_path / "raw" / "trips.parquet", columns)
    config = _tiny_parquet_config(tiny_dataset_config, {"name": "y"})

    with pytest.raises(
        DataError,
        match=rf"^{re.escape(str(tmp_path / 'raw' / 'trips.parquet'))}: row 3, column 'hour': expected an "
        r"integer \(features\.categorical_int\), got '2\.5'$",
    ):
        prepare_spans(config, tmp_path / "data")
    assert not (tmp_path / "data").exists()


def test_binary_label_other_than_0_or_1_names_the_row(tmp_path, tiny_dataset_config, tiny_source_csv):
    header = ["ts", "fare", "lat", "hour", "payment", "y"]
    source = tiny_source_csv(header=header, rows=[["1358000000", "4", "1", "2", "Cash", v] for v in "102"])

    with pytest.raises(
        DataError,
        match=rf"^{re.escape(str(source))}: row 4, column 'y': expected 0 or 1 \(label\.task binary\), "
        r"got '2'$",
    ):
        prepare_spans(tiny_dataset_config(label={"name": "y"}), tmp_path / "data")
    assert not (tmp_path / "data").exists()


def test_categorical_int_keeps_integer_text_as_written_and_whole_floats_as_integers(
    tmp_path, tiny_dataset_config, tiny_source_csv, read_csv
):
    header = ["ts", "fare", "lat", "hour", "payment", "y"]
    hours = [" 07", "7.0", "1e1", "-0.0"]
    tiny_source_csv(header=header, rows=[["1358000000", "4", "1", hour, "Cash", "1"] for hour in hours])

    prepared = prepare_spans(tiny_dataset_config(label={"name": "y"}), tmp_path / "data")

    assert [row[2] for row in read_csv(prepared[0].path)[1:]] == ["07", "7", "10", "0"]

"""Span preparation: span numbering, text-preserving span files, labels, and DataErrors naming rows."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from ml_lifecycle.base.errors import DataError
from ml_lifecycle.config.dataset import load_dataset_config
from ml_lifecycle.datasets.prepare import SOURCE_MARKER, compute_label, prepare_spans, span_numbers
from ml_lifecycle.datasets.span_files import SPAN_FILE_NAME, as_float_text, span_dir

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def _with_spans(config, **updates):
    return config.model_copy(update={"spans": config.spans.model_copy(update=updates)})


def _times(days, epoch_seconds, unit="s"):
    seconds = pd.Series([epoch_seconds(day) for day in days], dtype="float64")
    return seconds * 1000 if unit == "ms" else seconds


# --- span_numbers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "expected_numbers", "expected_periods"),
    [
        ("quarter", [1, 1, 2, 4, 5, 9], ["2013Q1", "2013Q1", "2013Q2", "2013Q4", "2014Q1", "2015Q1"]),
        ("month", [1, 3, 4, 12, 13, 25], ["2013-01", "2013-03", "2013-04", "2013-12", "2014-01", "2015-01"]),
        ("year", [1, 1, 1, 1, 2, 3], ["2013", "2013", "2013", "2013", "2014", "2015"]),
    ],
)
def test_span_numbers_per_period(
    tiny_dataset_config, epoch_seconds, period, expected_numbers, expected_periods
):
    config = _with_spans(tiny_dataset_config(), period=period)
    days = ["2013-01-01", "2013-03-31", "2013-04-01", "2013-12-31", "2014-01-01", "2015-01-15"]

    numbers, periods = span_numbers(_times(days, epoch_seconds), config)

    assert numbers.tolist() == expected_numbers
    assert periods.tolist() == expected_periods


@pytest.mark.parametrize(
    ("period", "origin", "expected"),
    [
        # Span 1 is the whole period holding the origin, even when the origin is mid-period.
        ("quarter", "2013-05-20", [0, 1, 1, 2]),
        ("month", "2013-05-20", [-1, 1, 2, 4]),
        ("year", "2013-05-20", [1, 1, 1, 1]),
        ("quarter", "2012-10-01", [2, 3, 3, 4]),
    ],
)
def test_span_one_is_the_period_holding_the_origin(
    tiny_dataset_config, epoch_seconds, period, origin, expected
):
    config = _with_spans(tiny_dataset_config(), period=period, origin=origin)
    days = ["2013-03-31", "2013-05-01", "2013-06-30", "2013-08-01"]

    numbers, _ = span_numbers(_times(days, epoch_seconds), config)

    assert numbers.tolist() == expected


def test_span_numbers_in_milliseconds(tiny_dataset_config, epoch_seconds):
    config = _with_spans(tiny_dataset_config(), time_format="epoch_ms", period="month")
    days = ["2013-01-31", "2013-02-01"]

    numbers, periods = span_numbers(_times(days, epoch_seconds, unit="ms"), config)

    assert numbers.tolist() == [1, 2]
    assert periods.tolist() == ["2013-01", "2013-02"]


# --- small pure helpers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("300", "300.0"),
        ("-3", "-3.0"),
        ("+4", "+4.0"),
        ("0", "0.0"),
        ("12.5", "12.5"),
        ("1e3", "1e3"),
        ("", ""),
        ("abc", "abc"),
    ],
)
def test_as_float_text(text, expected):
    assert as_float_text(text) == expected


def test_compute_label_without_expression_copies_the_label_column(tiny_dataset_config):
    config = tiny_dataset_config(label={"name": "big_tipper"})
    frame = pd.DataFrame({"big_tipper": ["1", "0", "1"], "fare": ["1", "2", "3"]})

    assert compute_label(frame, config).tolist() == ["1", "0", "1"]


def test_compute_label_bad_expression_names_the_expression(tiny_dataset_config):
    config = tiny_dataset_config(label={"name": "big_tipper", "expression": "tips >"})
    frame = pd.DataFrame({"tips": ["1"], "fare": ["2"]})

    with pytest.raises(DataError, match=r"label\.expression 'tips >'"):
        compute_label(frame, config)


# --- prepare_spans ----------------------------------------------------------------------------


@pytest.fixture
def prepared(tmp_path, tiny_dataset_config, tiny_source_csv):
    tiny_source_csv()
    data_root = tmp_path / "data"
    return data_root, prepare_spans(tiny_dataset_config(), data_root)


def test_prepare_writes_one_file_per_span(prepared):
    data_root, spans = prepared

    assert [(s.span, s.period, s.rows) for s in spans] == [
        (1, "2013Q1", 2),
        (2, "2013Q2", 1),
        (5, "2014Q1", 1),
    ]
    for span in spans:
        assert span.path == span_dir(data_root, span.span) / SPAN_FILE_NAME
        assert span.path.is_file()
    assert sorted(p.name for p in data_root.iterdir()) == ["span-1", "span-2", "span-5"]


def test_prepare_writes_features_then_label_with_values_as_text(prepared, read_csv):
    data_root, _ = prepared

    span1 = read_csv(data_root / "span-1" / SPAN_FILE_NAME)
    span2 = read_csv(data_root / "span-2" / SPAN_FILE_NAME)
    span5 = read_csv(data_root / "span-5" / SPAN_FILE_NAME)

    header = ["fare", "lat", "hour", "payment", "big_tipper"]
    # The label's source column (tips), the time column and unconfigured columns are gone.
    assert span1[0] == span2[0] == span5[0] == header
    assert span1[1:] == [
        # '10' -> '10.0' (numeric), '5' kept (categorical int); 3 > 0.2 * 10 -> 1
        ["10.0", "41.9", "5", "Cash", "1"],
        # empty lat stays empty; '07' stays as written; 0 > 2.5 -> 0
        ["12.5", "", "07", "Credit Card", "0"],
    ]
    # '42' -> '42.0' (bucketized); empty payment stays empty; 100 > 60 -> 1
    assert span2[1:] == [["300.0", "42.0", "23", "", "1"]]
    # empty fare stays empty, and the label over a missing fare is 0; '-87' -> '-87.0'
    assert span5[1:] == [["", "-87.0", "0", "Cash", "0"]]


def test_prepare_with_a_ready_made_label_column(tmp_path, tiny_dataset_config, tiny_source_csv, read_csv):
    header = ["ts", "fare", "lat", "hour", "payment", "big_tipper"]
    tiny_source_csv(header=header, rows=[["1358000000", "4", "1", "2", "Cash", "1"]])
    config = tiny_dataset_config(label={"name": "big_tipper"})

    spans = prepare_spans(config, tmp_path / "data")

    assert [s.span for s in spans] == [1]
    assert read_csv(spans[0].path) == [config.span_columns, ["4.0", "1.0", "2", "Cash", "1"]]


def test_rows_before_origin_raise_naming_the_row(tmp_path, tiny_dataset_config, tiny_source_csv):
    source = tiny_source_csv()
    config = _with_spans(tiny_dataset_config(), origin="2013-04-01")

    # Rows 2 and 3 of the file (2013-01-15, 2013-02-01) fall in 2013Q1; the first is named.
    with pytest.raises(
        DataError, match=rf"{re.escape(str(source))}: row 2 falls before spans\.origin 2013-04-01 \(2013Q1\)"
    ):
        prepare_spans(config, tmp_path / "data")
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ("yesterday", "expected epoch seconds (spans.time_format epoch_s), got 'yesterday'"),
        ("", "no time (an empty cell or one of na_values): every row needs one to fall in a span"),
        ("NA", "no time (an empty cell or one of na_values): every row needs one to fall in a span"),
    ],
)
def test_bad_or_missing_timestamp_raises_naming_row_and_column(
    tmp_path, tiny_dataset_config, tiny_source_csv, bad, problem, epoch_seconds
):
    rows = [
        [epoch_seconds("2013-01-15"), "10", "41.9", "5", "Cash", "3", ""],
        [epoch_seconds("2013-01-16"), "10", "41.9", "5", "Cash", "3", ""],
        [bad, "10", "41.9", "5", "Cash", "3", ""],
    ]
    source = tiny_source_csv(rows=rows)

    with pytest.raises(
        DataError, match=rf"^{re.escape(str(source))}: row 4, column 'ts': {re.escape(problem)}$"
    ):
        prepare_spans(tiny_dataset_config(), tmp_path / "data")
    assert not (tmp_path / "data").exists()


def test_missing_feature_column_raises_naming_the_column(tmp_path, tiny_dataset_config, tiny_source_csv):
    header = ["ts", "fare", "hour", "payment", "tips"]
    source = tiny_source_csv(header=header, rows=[["1358000000", "4", "2", "Cash", "1"]])

    with pytest.raises(DataError, match=rf"{re.escape(str(source))}: missing column\(s\) \['lat'\]"):
        prepare_spans(tiny_dataset_config(), tmp_path / "data")


def test_missing_time_column_raises_naming_the_column(tmp_path, tiny_dataset_config, tiny_source_csv):
    header = ["when", "fare", "lat", "hour", "payment", "tips"]
    tiny_source_csv(header=header, rows=[["1358000000", "4", "1", "2", "Cash", "1"]])

    with pytest.raises(DataError, match=r"missing column\(s\) \['ts'\]"):
        prepare_spans(tiny_dataset_config(), tmp_path / "data")


def test_missing_label_column_raises_naming_the_column(tmp_path, tiny_dataset_config, tiny_source_csv):
    header = ["ts", "fare", "lat", "hour", "payment"]
    tiny_source_csv(header=header, rows=[["1358000000", "4", "1", "2", "Cash"]])
    config = tiny_dataset_config(label={"name": "big_tipper"})

    with pytest.raises(DataError, match=r"missing column\(s\) \['big_tipper'\]"):
        prepare_spans(config, tmp_path / "data")


def test_missing_label_source_column_raises_naming_the_column(tmp_path, tiny_dataset_config, tiny_source_csv):
    header = ["ts", "fare", "lat", "hour", "payment"]
    tiny_source_csv(header=header, rows=[["1358000000", "4", "1", "2", "Cash"]])

    with pytest.raises(DataError, match=r"label\.expression 'tips > 0\.2 \* fare': .*'tips'"):
        prepare_spans(tiny_dataset_config(), tmp_path / "data")


def test_missing_source_file_raises_naming_the_file(tmp_path, tiny_dataset_config):
    with pytest.raises(DataError, match=rf"{re.escape(str(tmp_path / 'source.csv'))}: source CSV not found"):
        prepare_spans(tiny_dataset_config(), tmp_path / "data")


def test_rerun_replaces_spans_cleanly(
    tmp_path, tiny_dataset_config, tiny_source_csv, read_csv, epoch_seconds
):
    config = tiny_dataset_config()
    data_root = tmp_path / "data"
    tiny_source_csv()
    prepare_spans(config, data_root)
    (data_root / "span-1" / "stray.csv").write_text("fare\n1\n")  # must not survive the rerun
    (data_root / ".staging-span-2").mkdir()  # left behind by an interrupted run

    # The same spans, new contents: span 1 now holds one row, span 2 a different row.
    tiny_source_csv(
        rows=[
            [epoch_seconds("2013-03-01"), "8", "1", "9", "Cash", "0", ""],
            [epoch_seconds("2013-05-01"), "5", "2", "3", "Cash", "2", ""],
            [epoch_seconds("2014-02-01"), "6", "3", "4", "Cash", "2", ""],
        ]
    )
    spans = prepare_spans(config, data_root)

    assert [(s.span, s.rows) for s in spans] == [(1, 1), (2, 1), (5, 1)]
    assert sorted(p.name for p in data_root.iterdir()) == ["span-1", "span-2", "span-5"]
    assert sorted(p.name for p in (data_root / "span-1").iterdir()) == sorted([SOURCE_MARKER, SPAN_FILE_NAME])
    assert read_csv(data_root / "span-1" / SPAN_FILE_NAME)[1:] == [["8.0", "1.0", "9", "Cash", "0"]]
    assert read_csv(data_root / "span-2" / SPAN_FILE_NAME)[1:] == [["5.0", "2.0", "3", "Cash", "1"]]


def test_bikes_fixture_prepares_into_monthly_spans(tmp_path, read_csv):
    config = load_dataset_config(FIXTURES / "bikes.yaml")

    spans = prepare_spans(config, tmp_path / "bikes")

    assert [(s.span, s.period, s.rows) for s in spans] == [
        (1, "2023-01", 3),
        (2, "2023-02", 3),
        (4, "2023-04", 2),
    ]
    header = ["distance_km", "temperature", "station_id", "weather", "long_ride"]
    assert read_csv(spans[0].path) == [
        header,
        ["2.5", "-3.0", "101", "snow", "0"],
        ["11.0", "1.5", "102", "clear", "1"],
        ["0.8", "", "101", "", "0"],
    ]
    # 31 > 30 -> 1, exactly 30 -> 0, a missing duration -> 0
    assert [row[-1] for row in read_csv(spans[1].path)[1:]] == ["1", "0", "0"]
    assert read_csv(spans[2].path)[1:] == [
        ["3.0", "12.0", "101", "clear", "0"],
        ["22.4", "15.0", "105", "clear", "1"],
    ]


def test_label_expression_can_compare_text_columns(tiny_dataset_config):
    import pandas as pd

    from ml_lifecycle.datasets.prepare import compute_label

    config = tiny_dataset_config(label={"name": "paid_cash", "expression": "payment == 'Cash'"})
    frame = pd.DataFrame({"payment": ["Cash", "Credit Card", ""], "fare": ["1", "2", ""]})

    assert compute_label(frame, config).tolist() == ["1", "0", "0"]


def test_prepare_removes_spans_an_earlier_prepare_left(tmp_path, tiny_dataset_config, tiny_source_csv):
    data_root = tmp_path / "data"
    stale = span_dir(data_root, 9)
    stale.mkdir(parents=True)
    (stale / SPAN_FILE_NAME).write_text("old\n")
    (stale / SOURCE_MARKER).write_text("an earlier source\n")
    exported = span_dir(data_root, 10)  # e.g. written by `lifecycle review export`: no marker
    exported.mkdir(parents=True)
    (exported / SPAN_FILE_NAME).write_text("reviewed\n")
    tiny_source_csv()

    spans = prepare_spans(tiny_dataset_config(), data_root)

    assert not stale.exists()
    assert (exported / SPAN_FILE_NAME).read_text() == "reviewed\n"
    assert sorted(p.name for p in data_root.iterdir()) == sorted(
        [f"span-{s.span}" for s in spans] + ["span-10"]
    )
    assert all((span_dir(data_root, s.span) / SOURCE_MARKER).exists() for s in spans)


def test_empty_source_file_raises_naming_the_file(tmp_path, tiny_dataset_config):
    source = tmp_path / "source.csv"
    source.write_text("")

    with pytest.raises(DataError, match=rf"^{re.escape(str(source))}: the source CSV is empty"):
        prepare_spans(tiny_dataset_config(), tmp_path / "data")


def test_non_utf8_source_raises_naming_file_and_line(tmp_path, tiny_dataset_config, tiny_source_csv):
    source = tiny_source_csv()
    source.write_bytes(source.read_bytes() + "1357000000,4,41.9,2,Esp\xe8ces,1,\n".encode("latin-1"))

    with pytest.raises(DataError, match=rf"^{re.escape(str(source))}: line 6: byte 0xe8 is not UTF-8"):
        prepare_spans(tiny_dataset_config(), tmp_path / "data")


@pytest.mark.parametrize(
    "timestamp",
    [
        "99999999999999",  # an integer column: pandas refuses to convert it
        "1e20",  # a float column: pandas makes it NaT
        str(1_357_000_000_000),  # milliseconds read as seconds: the year 44970
        "18446744073709551615",  # above int64: an unsigned column, which would wrap round unchecked
        "9223372036.854786",  # a float a hair past the last date: coercing would wrap it round
    ],
)
def test_timestamp_beyond_pandas_dates_raises_naming_row_and_column(
    tmp_path, tiny_dataset_config, tiny_source_csv, epoch_seconds, timestamp
):
    rows = [
        [epoch_seconds("2013-01-15"), "10", "41.9", "5", "Cash", "3", ""],
        [timestamp, "10", "41.9", "5", "Cash", "3", ""],
    ]
    source = tiny_source_csv(rows=rows)

    with pytest.raises(
        DataError,
        match=rf"^{re.escape(str(source))}: row 3, column 'ts': timestamp '{timestamp}' is outside the "
        r"dates pandas can hold \(1677-09-21 to 2262-04-11\) when read as epoch seconds; is "
        r"spans\.time_format right\?",
    ):
        prepare_spans(tiny_dataset_config(), tmp_path / "data")
    assert not (tmp_path / "data").exists()

"""Pre-flight span check: row counts, and DataErrors that name the span, file, line and column."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ml_lifecycle.base.errors import DataError
from ml_lifecycle.config.dataset import load_dataset_config
from ml_lifecycle.datasets.check import EmptySpanError, SpanCheck, SpanNotFoundError, check_span
from ml_lifecycle.datasets.prepare import prepare_spans

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"

GOOD_ROWS = [
    ["10.0", "41.9", "5", "Cash", "1"],
    ["12.5", "", "7", "Credit Card", "0"],
    ["", "-87", "23", "", "0"],
]


def _at(path: Path, line: int | None = None) -> str:
    """A `match` pattern for 'span 1: <path>[:<line>]: '."""
    where = f"{path}:{line}" if line is not None else str(path)
    return f"span 1: {re.escape(where)}: "


def test_check_span_counts_rows_and_lists_files(tiny_dataset_config, tiny_span):
    config = tiny_dataset_config()
    data_root, first = tiny_span(GOOD_ROWS)
    _, second = tiny_span(GOOD_ROWS[:2], file_name="more.csv")
    (first.parent / "notes.txt").write_text("not a csv file")

    result = check_span(config, data_root, 1)

    assert result == SpanCheck(span=1, files=[first, second], rows=5)


def test_blank_lines_are_not_rows(tiny_dataset_config, tiny_span):
    data_root, path = tiny_span(GOOD_ROWS)
    path.write_text(path.read_text() + "\n\n")

    assert check_span(tiny_dataset_config(), data_root, 1).rows == 3


def test_columns_in_any_order_are_accepted(tiny_dataset_config, tiny_span):
    header = ["big_tipper", "payment", "hour", "lat", "fare"]
    rows = [list(reversed(row)) for row in GOOD_ROWS]
    data_root, _ = tiny_span(rows, header=header)

    assert check_span(tiny_dataset_config(), data_root, 1).rows == 3


def test_missing_span_raises_span_not_found(tmp_path, tiny_dataset_config, tiny_span):
    data_root, _ = tiny_span(GOOD_ROWS, span=1)

    with pytest.raises(SpanNotFoundError, match=r"span 7: no files match .*span-7/\*\.csv"):
        check_span(tiny_dataset_config(), data_root, 7)


def test_span_directory_without_csv_files_raises_span_not_found(tmp_path, tiny_dataset_config):
    (tmp_path / "data" / "span-2").mkdir(parents=True)
    (tmp_path / "data" / "span-2" / "data.txt").write_text("fare\n1\n")

    with pytest.raises(SpanNotFoundError, match="span 2: no files match"):
        check_span(tiny_dataset_config(), tmp_path / "data", 2)


def test_span_errors_are_data_errors():
    # The CLI reports every DataError as bad input (exit code 2).
    assert issubclass(SpanNotFoundError, DataError)
    assert issubclass(EmptySpanError, DataError)


def test_header_only_span_raises_empty_span(tiny_dataset_config, tiny_span):
    data_root, _ = tiny_span([])

    with pytest.raises(EmptySpanError, match=r"span 1: .*span-1 holds a header but no data rows"):
        check_span(tiny_dataset_config(), data_root, 1)


def test_zero_byte_file_raises_empty_span_naming_the_file(tiny_dataset_config, tiny_span):
    data_root, good = tiny_span(GOOD_ROWS)
    empty = good.parent / "zzz.csv"
    empty.write_text("")

    with pytest.raises(
        EmptySpanError, match=rf"span 1: {re.escape(str(empty))} is empty \(no header, no rows\)"
    ):
        check_span(tiny_dataset_config(), data_root, 1)


@pytest.mark.parametrize(
    "bad_row",
    [
        ["10.0", "41.9", "5", "Cash"],  # a field short
        ["10.0", "41.9", "5", "Cash", "1", "extra"],  # a field too many
    ],
)
def test_malformed_row_names_file_and_line(tiny_dataset_config, tiny_span, bad_row):
    data_root, path = tiny_span([GOOD_ROWS[0], GOOD_ROWS[1], bad_row])

    with pytest.raises(
        DataError, match=_at(path, 4) + rf"malformed row, expected 5 fields, found {len(bad_row)}"
    ):
        check_span(tiny_dataset_config(), data_root, 1)


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        (0, "abc", "feature 'fare' expected a number, got 'abc'"),  # numeric
        (1, "north", "feature 'lat' expected a number, got 'north'"),  # bucketized
        (2, "1.5", "feature 'hour' expected an integer, got '1.5'"),  # categorical_int
        (2, "five", "feature 'hour' expected an integer, got 'five'"),
        (4, "yes", "label 'big_tipper' expected an integer, got 'yes'"),  # the label (binary)
    ],
)
def test_wrong_type_names_file_line_and_feature(tiny_dataset_config, tiny_span, column, value, expected):
    bad_row = list(GOOD_ROWS[0])
    bad_row[column] = value
    data_root, path = tiny_span([GOOD_ROWS[0], bad_row])

    with pytest.raises(DataError, match=_at(path, 3) + re.escape(expected)):
        check_span(tiny_dataset_config(), data_root, 1)


def test_categorical_string_accepts_any_text(tiny_dataset_config, tiny_span):
    data_root, _ = tiny_span([["1", "2", "3", "42", "0"], ["1", "2", "3", "1.5", "1"]])

    assert check_span(tiny_dataset_config(), data_root, 1).rows == 2


def test_empty_feature_cells_are_accepted(tiny_dataset_config, tiny_span):
    data_root, _ = tiny_span([["", "", "", "", "1"]])

    assert check_span(tiny_dataset_config(), data_root, 1).rows == 1


def test_missing_column_names_it(tiny_dataset_config, tiny_span):
    header = ["fare", "lat", "hour", "big_tipper"]
    data_root, path = tiny_span([["1", "2", "3", "0"]], header=header)

    with pytest.raises(DataError, match=_at(path) + re.escape("missing column(s) ['payment']")):
        check_span(tiny_dataset_config(), data_root, 1)


def test_missing_label_column_names_it(tiny_dataset_config, tiny_span):
    header = ["fare", "lat", "hour", "payment"]
    data_root, path = tiny_span([["1", "2", "3", "Cash"]], header=header)

    with pytest.raises(DataError, match=_at(path) + re.escape("missing column(s) ['big_tipper']")):
        check_span(tiny_dataset_config(), data_root, 1)


def test_unexpected_column_names_it(tiny_dataset_config, tiny_span):
    header = ["fare", "lat", "hour", "payment", "tips", "big_tipper"]
    data_root, path = tiny_span([["1", "2", "3", "Cash", "0.5", "0"]], header=header)

    with pytest.raises(DataError, match=_at(path) + re.escape("unexpected column(s) ['tips']")):
        check_span(tiny_dataset_config(), data_root, 1)


def test_missing_label_value_names_file_and_line(tiny_dataset_config, tiny_span):
    data_root, path = tiny_span([GOOD_ROWS[0], GOOD_ROWS[1], ["1", "2", "3", "Cash", ""]])

    with pytest.raises(DataError, match=_at(path, 4) + "label 'big_tipper' is missing"):
        check_span(tiny_dataset_config(), data_root, 1)


def test_error_names_the_second_file_when_it_is_the_bad_one(tiny_dataset_config, tiny_span):
    data_root, _ = tiny_span(GOOD_ROWS, file_name="a.csv")
    _, bad = tiny_span([GOOD_ROWS[0], ["x", "2", "3", "Cash", "1"]], file_name="b.csv")

    with pytest.raises(DataError, match=_at(bad, 3) + "feature 'fare'"):
        check_span(tiny_dataset_config(), data_root, 1)


def test_prepared_spans_pass_the_check(tmp_path, tiny_dataset_config, tiny_source_csv):
    tiny_source_csv()
    config = tiny_dataset_config()
    prepared = prepare_spans(config, tmp_path / "data")

    checks = [check_span(config, tmp_path / "data", span.span) for span in prepared]

    assert [c.rows for c in checks] == [span.rows for span in prepared]
    assert [c.files for c in checks] == [[span.path] for span in prepared]


def test_prepared_bikes_spans_pass_the_check(tmp_path):
    config = load_dataset_config(FIXTURES / "bikes.yaml")
    prepared = prepare_spans(config, tmp_path / "bikes")

    rows = {span.span: check_span(config, tmp_path / "bikes", span.span).rows for span in prepared}

    assert rows == {1: 3, 2: 3, 4: 2}


def test_non_utf8_span_file_names_file_and_line(tiny_dataset_config, tiny_span):
    data_root, path = tiny_span(GOOD_ROWS)
    path.write_bytes(path.read_bytes() + "4,41.9,2,Esp\xe8ces,1\n".encode("latin-1"))

    with pytest.raises(DataError, match=_at(path) + "line 5: byte 0xe8 is not UTF-8"):
        check_span(tiny_dataset_config(), data_root, 1)


def test_nul_byte_in_a_span_file_names_the_file(tiny_dataset_config, tiny_span):
    data_root, path = tiny_span(GOOD_ROWS)
    path.write_bytes(path.read_bytes() + b"4,41.9,2,Ca\x00sh,1\n")

    with pytest.raises(DataError, match=_at(path) + "malformed CSV: line contains NUL"):
        check_span(tiny_dataset_config(), data_root, 1)


# --- na tokens, label.task ----------------------------------------------------------------------


def test_na_token_left_in_a_span_file_is_named_with_a_hint(tiny_dataset_config, tiny_span):
    data_root, path = tiny_span([GOOD_ROWS[0], ["NA", "41.9", "5", "Cash", "1"]])

    with pytest.raises(
        DataError,
        match=_at(path, 3)
        + r"feature 'fare' expected a number, got 'NA' \(one of na_values: a missing value "
        r"is an empty cell in a span file",
    ):
        check_span(tiny_dataset_config(), data_root, 1)


def test_multiclass_label_is_any_text_unless_classes_are_given(tiny_dataset_config, tiny_span):
    data_root, path = tiny_span([["1", "2", "3", "Cash", "Adelie"], ["1", "2", "3", "Cash", "Emperor"]])
    label = {"name": "big_tipper", "task": "multiclass"}

    assert check_span(tiny_dataset_config(label=label), data_root, 1).rows == 2
    with pytest.raises(
        DataError,
        match=_at(path, 3)
        + re.escape("label 'big_tipper' expected one of label.classes ['Adelie', 'Gentoo'], got 'Emperor'"),
    ):
        check_span(tiny_dataset_config(label={**label, "classes": ["Adelie", "Gentoo"]}), data_root, 1)


def test_regression_label_must_be_a_number(tiny_dataset_config, tiny_span):
    data_root, path = tiny_span([["1", "2", "3", "Cash", "2.5"], ["1", "2", "3", "Cash", "tall"]])

    with pytest.raises(DataError, match=_at(path, 3) + "label 'big_tipper' expected a number, got 'tall'"):
        check_span(tiny_dataset_config(label={"name": "big_tipper", "task": "regression"}), data_root, 1)

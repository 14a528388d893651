"""Labels per label.task: binary 0/1, multiclass text checked against label.classes, regression
float text; "" where a row has no label; errors name the row, the column and the value."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from ml_lifecycle.base.errors import DataError
from ml_lifecycle.datasets.labels import compute_label


def _label(tiny_dataset_config, frame, where=None, **label):
    config = tiny_dataset_config(label=label)
    frame = pd.DataFrame(frame)
    return (compute_label(frame, config) if where is None else compute_label(frame, config, where)).tolist()


def test_binary_column_of_0_and_1_is_kept(tiny_dataset_config):
    assert _label(tiny_dataset_config, {"y": ["1", "0", ""]}, name="y") == ["1", "0", ""]


def test_binary_expression_over_a_missing_value_is_0(tiny_dataset_config):
    frame = {"tips": ["3", "", "1"], "fare": ["10", "10", "10"]}

    assert _label(tiny_dataset_config, frame, name="y", expression="tips > 0.2 * fare") == ["1", "0", "0"]


def test_multiclass_column_is_its_text_stripped(tiny_dataset_config):
    frame = {"species": [" Adelie", "Gentoo ", "", "3"]}

    labels = _label(tiny_dataset_config, frame, name="species", task="multiclass")

    assert labels == ["Adelie", "Gentoo", "", "3"]


def test_multiclass_value_outside_the_classes_names_row_value_and_classes(tiny_dataset_config):
    frame = {"species": ["Adelie", "", "Gentoo", "Emperor", "Dodo"]}
    where = {3: "raw/b.csv: row 9"}.__getitem__

    with pytest.raises(
        DataError,
        match=r"^raw/b\.csv: row 9, column 'species': class 'Emperor' is not one of label\.classes "
        r"\['Adelie', 'Gentoo'\]$",
    ):
        _label(
            tiny_dataset_config, frame, where, name="species", task="multiclass", classes=["Adelie", "Gentoo"]
        )


def test_multiclass_classes_match_integer_text(tiny_dataset_config):
    frame = {"grade": ["1", "3", "2"]}

    labels = _label(tiny_dataset_config, frame, name="grade", task="multiclass", classes=[1, 2, 3])

    assert labels == ["1", "3", "2"]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("(score > 5) * 1 + (score > 8) * 1", ["0", "1", "2", "0"]),  # integers as integer text
        ("score // 4", ["0", "1", "2", ""]),  # a missing score: a float NaN, whole values kept whole
        ("score / 4", ["0.75", "1.5", "2.25", ""]),
        ("kind == 'a'", ["True", "False", "True", "False"]),
    ],
)
def test_multiclass_expression_result_as_text(tiny_dataset_config, expression, expected):
    frame = {"score": ["3", "6", "9", ""], "kind": ["a", "b", "a", "c"]}

    assert (
        _label(tiny_dataset_config, frame, name="grade", task="multiclass", expression=expression) == expected
    )


def test_regression_column_as_float_text(tiny_dataset_config):
    frame = {"price": ["3", " 2.5 ", "", "1e3", "-4"]}

    assert _label(tiny_dataset_config, frame, name="price", task="regression") == [
        "3.0",
        "2.5",
        "",
        "1e3",
        "-4.0",
    ]


@pytest.mark.parametrize("bad", ["cheap", "inf", "1,5"])
def test_regression_non_number_names_row_and_column(tiny_dataset_config, bad):
    frame = {"price": ["3", "", bad]}

    with pytest.raises(
        DataError,
        match=rf"^row 4, column 'price': expected a finite number \(label\.task regression\), got '{bad}'$",
    ):
        _label(tiny_dataset_config, frame, name="price", task="regression")


def test_regression_expression_as_float_text(tiny_dataset_config):
    frame = {"grams": ["3750", "", "4100"]}

    labels = _label(tiny_dataset_config, frame, name="kg", task="regression", expression="grams / 1000")

    assert labels == ["3.75", "", "4.1"]


def test_regression_expression_of_booleans_is_refused(tiny_dataset_config):
    frame = {"grams": ["3750", "4100"]}

    with pytest.raises(
        DataError, match=r"label\.expression 'grams > 4000': gives bool values; .*needs numbers"
    ):
        _label(tiny_dataset_config, frame, name="kg", task="regression", expression="grams > 4000")


def test_expression_over_odd_column_names(tiny_dataset_config):
    frame = {"Body Mass (g)": ["3750", "4100"], "größe": ["2", "1"]}

    labels = _label(tiny_dataset_config, frame, name="heavy", expression="`Body Mass (g)` > 4000 * größe")

    assert labels == ["0", "1"]


def test_expression_giving_one_value_is_refused(tiny_dataset_config):
    with pytest.raises(
        DataError, match=r"label\.expression '1 \+ 1': gives one value \(2\), not one per row"
    ):
        _label(tiny_dataset_config, {"fare": ["1"]}, name="y", expression="1 + 1")


# --- whole floats in integer roles (a pandas integer column with nulls is written as floats) ------


def test_binary_column_of_whole_floats_is_integer_text(tiny_dataset_config):
    labels = _label(tiny_dataset_config, {"y": ["1.0", "0.0", "", " 1 ", "0"]}, name="y")

    assert labels == ["1", "0", "", "1", "0"]


@pytest.mark.parametrize("bad", ["2", "0.5", "yes", "-1.0"])
def test_binary_column_other_than_0_or_1_names_the_row(tiny_dataset_config, bad):
    where = {2: "raw/b.parquet: row 3"}.__getitem__

    with pytest.raises(
        DataError,
        match=rf"^raw/b\.parquet: row 3, column 'y': expected 0 or 1 \(label\.task binary\), got '{bad}'$",
    ):
        _label(tiny_dataset_config, {"y": ["1", "0", bad, "7"]}, where, name="y")


@pytest.mark.parametrize(("expression", "value"), [("tips * 2", "2"), ("tips / 2", "0.5"), ("tips", "'x'")])
def test_binary_expression_other_than_0_or_1_names_the_row(tiny_dataset_config, expression, value):
    frame = {"tips": ["0", "x" if value == "'x'" else "1", "1"]}

    with pytest.raises(
        DataError,
        match=rf"^row 3, label\.expression '{re.escape(expression)}': gives {re.escape(value)}; "
        r"label\.task binary needs 0 or 1 \(or True/False\)$",
    ):
        _label(tiny_dataset_config, frame, name="y", expression=expression)


def test_binary_expression_of_0_and_1_numbers_with_a_missing_value(tiny_dataset_config):
    frame = {"tips": ["1", "", "0.0"]}

    assert _label(tiny_dataset_config, frame, name="y", expression="tips * 1") == ["1", "0", "0"]


def test_multiclass_column_of_whole_floats_is_integer_text(tiny_dataset_config):
    frame = {"grade": ["1.0", "3.0", "", " 2 ", "3"]}

    labels = _label(tiny_dataset_config, frame, name="grade", task="multiclass", classes=[1, 2, 3])

    assert labels == ["1", "3", "", "2", "3"]


def test_multiclass_column_with_a_fraction_stays_text(tiny_dataset_config):
    frame = {"grade": ["1.0", "2.5", "3"]}

    assert _label(tiny_dataset_config, frame, name="grade", task="multiclass") == ["1.0", "2.5", "3"]

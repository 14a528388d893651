"""The label column of the spans, per `label.task`, as text ("" where a row has no label).

binary: the expression as 0/1 (a row it cannot judge, e.g. over a missing value, is 0), or the
column as 0/1 ('1.0' -> '1'); any other value is refused, naming its row. multiclass: the column's
text, stripped, or the expression's result as text; whole numbers in float form as integers when
every value is a whole number ('3.0' -> '3'); checked against `label.classes` when they are given.
regression: a number as float text ('3' -> '3.0', as CsvExampleGen must see a FLOAT column). Rows
without a label are dropped by prepare.

Whole floats are made integers because pandas writes an integer column with nulls as floats: a
Parquet label of 1 and 0 with a missing one arrives as '1.0', which the pre-flight check (and
CsvExampleGen, typing the column FLOAT) would not take for an integer, nor for class 1.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from ml_lifecycle.base.contracts import Task
from ml_lifecycle.base.errors import DataError
from ml_lifecycle.config.dataset import DatasetConfig
from ml_lifecycle.datasets.sources import (
    converted_cells,
    default_where,
    first_row,
    integer_text,
    map_distinct,
)
from ml_lifecycle.datasets.span_files import as_float_text


def _numeric_if_parsable(column: pd.Series) -> pd.Series:
    """Numbers for columns whose non-empty cells all parse as numbers; text columns stay text,
    so expressions such as `weather == 'rain'` work."""
    numbers = pd.to_numeric(column, errors="coerce")
    unparsed = numbers.isna() & (column != "")
    return column if unparsed.any() else numbers


def _evaluate(frame: pd.DataFrame, expression: str) -> pd.Series:
    # Only the columns the expression names are converted to numbers: converting all 18 of
    # taxi's took 4.8 of prepare's 14 s at 1M rows.
    used = [c for c in frame.columns if c in expression]
    try:
        values = frame[used].apply(_numeric_if_parsable).eval(expression)
    except Exception as error:  # pandas raises many types for a bad expression
        raise DataError(f"label.expression {expression!r}: {error}") from error
    if not isinstance(values, pd.Series):
        raise DataError(
            f"label.expression {expression!r}: gives one value ({values!r}), not one per row; "
            "name a source column in it"
        )
    return values


def _as_text(values: pd.Series) -> pd.Series:
    """An expression's result as class text: whole floats as integers (a NaN makes pandas turn
    an integer result into floats), NaN as ""."""
    if values.dtype.kind == "f":
        whole = values.dropna()
        if (whole == np.floor(whole)).all():
            return values.map(lambda v: "" if v != v else str(int(v)))
        return values.map(lambda v: "" if v != v else repr(float(v)))
    return values.map(lambda v: "" if v is None or v != v else str(v))


def compute_label(
    frame: pd.DataFrame, config: DatasetConfig, where: Callable[[int], str] = default_where
) -> pd.Series:
    """The label of every row of `frame` (source text, "" missing); `where(row)` names a row."""
    label = config.label
    if label.task is Task.BINARY:
        if not label.expression:
            return _binary_column(frame[label.name], label.name, where)
        return _binary_expression(_evaluate(frame, label.expression), label.expression, where)
    if label.task is Task.MULTICLASS:
        if label.expression:
            classes = _as_text(_evaluate(frame, label.expression))
        else:
            classes = _whole_numbers_as_integers(frame[label.name].str.strip())
        if label.classes:
            _check_classes(classes, label.classes, where, label.name)
        return classes
    return _regression_label(frame, config, where)


def _binary_text(text: str) -> str | None:
    """'0' / '1' for a cell holding 0 or 1 in any integer or float form, "" for "", else None."""
    integer = integer_text(text)
    if not integer:
        return integer
    return str(int(integer)) if int(integer) in (0, 1) else None


def _binary_column(column: pd.Series, name: str, where: Callable[[int], str]) -> pd.Series:
    return converted_cells(column, _binary_text, where, name, "0 or 1 (label.task binary)")


def _binary_expression(values: pd.Series, expression: str, where: Callable[[int], str]) -> pd.Series:
    """True/False or 0/1 as '1'/'0'; a row the expression cannot judge (NaN, None) is 0."""
    unjudged = values.isna().to_numpy()
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    numbers[unjudged] = 0
    # A NaN left is a value that is no number ('x'); it is in neither 0 nor 1.
    refused = ~np.isin(numbers, (0, 1))
    if refused.any():
        row = first_row(refused)
        value = values.iloc[row]
        shown = value.item() if isinstance(value, np.generic) else value
        raise DataError(
            f"{where(row)}, label.expression {expression!r}: gives {shown!r}; label.task binary needs 0 "
            "or 1 (or True/False)"
        )
    return pd.Series(numbers.astype(np.int64).astype(str), index=values.index, dtype=object)


def _whole_numbers_as_integers(classes: pd.Series) -> pd.Series:
    """Classes that are all whole numbers as integer text; classes of any other kind as they are."""
    integers = map_distinct(classes, integer_text)
    return classes if integers.isna().any() else integers


def _check_classes(classes: pd.Series, known: list[str], where: Callable[[int], str], name: str) -> None:
    unknown = ~classes.isin(known) & (classes != "")
    if unknown.any():
        row = first_row(unknown)
        raise DataError(
            f"{where(row)}, column {name!r}: class {classes.iloc[row]!r} is not one of label.classes {known}"
        )


def _regression_label(frame: pd.DataFrame, config: DatasetConfig, where: Callable[[int], str]) -> pd.Series:
    label = config.label
    if label.expression:
        values = _evaluate(frame, label.expression)
        if values.dtype.kind not in "iuf":
            raise DataError(
                f"label.expression {label.expression!r}: gives {values.dtype} values; label.task "
                "regression needs numbers"
            )
        numbers = values.astype(np.float64)
        _check_finite(numbers, numbers.isna(), numbers.astype(str), where, "label.expression")
        return numbers.map(lambda v: "" if v != v else repr(v))
    text = frame[label.name].str.strip()
    numbers = pd.to_numeric(text, errors="coerce")
    _check_finite(numbers, text == "", text, where, f"column {label.name!r}")
    return text.map(as_float_text)


def _check_finite(
    numbers: pd.Series, missing: pd.Series, shown: pd.Series, where: Callable[[int], str], what: str
) -> None:
    """Every present value a finite number (an infinite label has no squared error to learn)."""
    bad = ~np.isfinite(numbers.to_numpy(dtype=np.float64)) & ~missing.to_numpy(dtype=bool)
    if bad.any():
        row = first_row(bad)
        raise DataError(
            f"{where(row)}, {what}: expected a finite number (label.task regression), got {shown.iloc[row]!r}"
        )

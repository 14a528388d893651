"""`source_parquet`: a Parquet file or a directory of them, read with pyarrow into text cells.

Each column becomes the text a CSV would hold: integers as integers (a null int stays an int
column, not pandas' float), floats in their shortest round-trip form (repr), booleans as 1/0 (a
binary label, an integer category), timestamps and dates as ISO-8601 in UTC (time-zone-aware ones
converted, then the zone dropped) and nulls and NaN as "" (missing). A column of another type
(lists, structs, bytes) is refused when the dataset uses it and left out otherwise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ml_lifecycle.base.errors import DataError
from ml_lifecycle.config.dataset import DatasetConfig
from ml_lifecycle.datasets.sources import Source, header_difference, used_columns


class _UnsupportedColumn(Exception):
    """A Parquet column type with no CSV cell form."""


def _parquet_files(config: DatasetConfig) -> list[Path]:
    source = config.resolve_source()
    if source.is_file():
        return [source]
    if source.is_dir():
        # Writers such as Spark put _SUCCESS and .crc files beside the data.
        files = sorted(
            p
            for p in source.rglob("*.parquet")
            if p.is_file() and not any(part.startswith(("_", ".")) for part in p.relative_to(source).parts)
        )
        if not files:
            raise DataError(f"{source}: no *.parquet files in the {config.source_key} directory")
        return files
    raise DataError(f"{source}: source Parquet not found")


def _float_text(column: pa.ChunkedArray) -> np.ndarray:
    values = column.to_numpy()
    # float64 cells are Python floats (repr is the shortest round-trip text); float32 ones stay
    # numpy scalars, whose str is the shortest text of the float32 (a float64 repr would add digits).
    cells = values.tolist() if values.dtype == np.float64 else list(values)
    text = repr if values.dtype == np.float64 else str
    return np.array([text(v) if v == v else "" for v in cells], dtype=object)


def _timestamp_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_timestamp(column.type) and column.type.tz is not None:
        # Arrow stores aware timestamps in UTC: dropping the zone leaves the UTC wall time.
        column = pc.cast(column, pa.timestamp(column.type.unit))
    # "2007-11-11 08:30:00.000000" -> "2007-11-11 08:30:00"; fractions that are there stay.
    return pc.replace_substring_regex(pc.cast(column, pa.string()), pattern=r"\.0+$", replacement="")


def _column_text(column: pa.ChunkedArray) -> np.ndarray:
    """The column's cells as text ("" for null / NaN)."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = pc.cast(column, kind.value_type)
        kind = column.type
    if pa.types.is_floating(kind):
        if pa.types.is_float16(kind):
            column = pc.cast(column, pa.float32())
        return _float_text(column)
    if pa.types.is_boolean(kind):
        column = pc.cast(column, pa.int8())
        kind = column.type
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        text = _timestamp_text(column)
    elif pa.types.is_decimal(kind):
        text = pa.chunked_array([pa.array([None if v is None else str(v) for v in column.to_pylist()])])
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind):
        text = column
    elif pa.types.is_integer(kind) or pa.types.is_time(kind) or pa.types.is_duration(kind):
        text = pc.cast(column, pa.string())
    else:
        raise _UnsupportedColumn(str(kind))
    if pa.types.is_null(text.type):
        return np.full(len(text), "", dtype=object)
    return pc.fill_null(text, "").to_numpy().astype(object)


def _read_table(path: Path) -> pa.Table:
    try:
        return pq.read_table(path)
    except (pa.ArrowException, OSError) as error:
        raise DataError(f"{path}: cannot read it as Parquet: {error}") from error


def _file_frame(path: Path, table: pa.Table, used: set[str]) -> tuple[pd.DataFrame, set[str]]:
    columns, timestamp_columns = {}, set()
    for name, column in zip(table.column_names, table.columns, strict=True):
        try:
            columns[name] = _column_text(column)
        except _UnsupportedColumn as error:
            if name in used:
                raise DataError(
                    f"{path}: column {name!r} holds {error}, which has no CSV cell form; "
                    "give numbers, text, booleans, timestamps or dates"
                ) from None
            continue
        if pa.types.is_timestamp(column.type) or pa.types.is_date(column.type):
            timestamp_columns.add(name)
    return pd.DataFrame(columns, index=pd.RangeIndex(table.num_rows)), timestamp_columns


def read_parquet_source(config: DatasetConfig) -> Source:
    """The rows of every Parquet file of the source, as text. Every file must hold the same
    columns (in any order: Parquet columns are named)."""
    files = _parquet_files(config)
    frames, starts, rows = [], [], 0
    timestamp_columns: set[str] = set()
    first_names: list[str] = []
    for path in files:
        table = _read_table(path)
        if not frames:
            first_names = table.column_names
        elif sorted(table.column_names) != sorted(first_names):
            difference = header_difference(table.column_names, first_names)
            raise DataError(f"{path}: columns differ from {files[0]}'s: {difference}")
        frame, timestamps = _file_frame(path, table, set(used_columns(config, table.column_names)))
        frames.append(frame[[c for c in first_names if c in frame.columns]])
        timestamp_columns |= timestamps
        starts.append(rows)
        rows += len(frame)
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    return Source(frame, tuple(files), tuple(starts), 1, frozenset(timestamp_columns))

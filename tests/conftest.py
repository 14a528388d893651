"""Shared fixtures: tiny dataset configs and CSV files built in tmp_path (3-10 rows each)."""

from __future__ import annotations

import calendar
import copy
import csv
import os
from pathlib import Path

# Fewer C++ log lines (Keras 2 for TFX 1.16 is chosen by importing ml_lifecycle).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402
import yaml  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    # Google client libraries (pulled in by TFX) warn about Python 3.10 and grpcio at import time.
    config.addinivalue_line(
        "filterwarnings", "ignore:You are using a non-supported Python version:FutureWarning"
    )
    config.addinivalue_line("filterwarnings", "ignore:grpcio < .* does not support:FutureWarning")


FIXTURES = Path(__file__).resolve().parent / "fixtures"

# A taxi-like dataset small enough to reason about row by row. Source columns: ts (the time
# column), fare, lat, hour, payment, tips (only used by the label expression) and company
# (not configured at all, so it never reaches a span).
TINY_DATASET = {
    "name": "tiny",
    "source_csv": "source.csv",
    "label": {"name": "big_tipper", "expression": "tips > 0.2 * fare", "drop_source_columns": ["tips"]},
    "features": {
        "numeric": ["fare"],
        "bucketized": ["lat"],
        "categorical_int": ["hour"],
        "categorical_string": ["payment"],
    },
    "spans": {"time_column": "ts", "time_unit": "s", "period": "quarter", "origin": "2013-01-01"},
    "evaluation": {"slice_features": ["hour"]},
}
# Columns of a tiny span file, in DatasetConfig.span_columns order.
TINY_SPAN_COLUMNS = ["fare", "lat", "hour", "payment", "big_tipper"]


def _epoch_seconds(day: str) -> int:
    """'2013-01-15' -> seconds since the epoch (UTC midnight)."""
    year, month, date = (int(part) for part in day.split("-"))
    return calendar.timegm((year, month, date, 0, 0, 0))


def _write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return list(csv.reader(handle))


def _write_yaml(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def write_csv():
    """write_csv(path, header, rows) -> path (creates parent directories)."""
    return _write_csv


@pytest.fixture
def read_csv():
    """read_csv(path) -> list of rows (header first), every cell as text."""
    return _read_csv


@pytest.fixture
def write_yaml():
    """write_yaml(path, data) -> path."""
    return _write_yaml


@pytest.fixture
def epoch_seconds():
    """epoch_seconds('2013-01-15') -> seconds since the epoch at UTC midnight."""
    return _epoch_seconds


@pytest.fixture
def tiny_dataset_dict():
    """A fresh (deep-copied) dict of the tiny dataset YAML, to edit before writing."""
    return copy.deepcopy(TINY_DATASET)


@pytest.fixture
def tiny_dataset_yaml(tmp_path):
    """Factory: writes the tiny dataset YAML (top-level keys replaced by `overrides`); returns its path."""

    def make(file_name: str = "tiny.yaml", **overrides) -> Path:
        data = copy.deepcopy(TINY_DATASET)
        data.update(overrides)
        return _write_yaml(tmp_path / file_name, data)

    return make


@pytest.fixture
def tiny_dataset_config(tiny_dataset_yaml):
    """Factory: the tiny DatasetConfig loaded from a YAML in tmp_path (source.csv next to it)."""
    from ml_lifecycle.config.dataset import load_dataset_config

    def make(**overrides):
        return load_dataset_config(tiny_dataset_yaml(**overrides))

    return make


# Source rows: spans 1 (2013Q1: two rows), 2 (2013Q2) and 5 (2014Q1) for origin 2013-01-01.
TINY_SOURCE_HEADER = ["ts", "fare", "lat", "hour", "payment", "tips", "company"]
TINY_SOURCE_ROWS = [
    [_epoch_seconds("2013-01-15"), "10", "41.9", "5", "Cash", "3", "Flash Cab"],
    [_epoch_seconds("2013-02-01"), "12.5", "", "07", "Credit Card", "0", ""],
    [_epoch_seconds("2013-04-10"), "300", "42", "23", "", "100", "Taxi Affiliation"],
    [_epoch_seconds("2014-01-05"), "", "-87", "0", "Cash", "1", "Flash Cab"],
]


@pytest.fixture
def tiny_source_csv(tmp_path):
    """Factory: writes tmp_path/source.csv (the tiny dataset's source); returns its path."""

    def make(rows=None, header=None) -> Path:
        return _write_csv(
            tmp_path / "source.csv",
            header if header is not None else TINY_SOURCE_HEADER,
            rows if rows is not None else TINY_SOURCE_ROWS,
        )

    return make


@pytest.fixture
def tiny_span(tmp_path):
    """Factory: writes data_root/span-N/<file> with the given rows; returns (data_root, path)."""
    data_root = tmp_path / "data"

    def make(rows, span: int = 1, header=None, file_name: str = "data.csv"):
        path = _write_csv(
            data_root / f"span-{span}" / file_name,
            header if header is not None else TINY_SPAN_COLUMNS,
            rows,
        )
        return data_root, path

    return make

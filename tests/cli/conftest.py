"""A small project on disk (config, dataset, schema, one span of good taxi rows) for CLI tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEADER = (
    "trip_miles,fare,trip_seconds,pickup_latitude,pickup_longitude,dropoff_latitude,"
    "dropoff_longitude,trip_start_hour,trip_start_day,trip_start_month,dropoff_census_tract,"
    "pickup_community_area,dropoff_community_area,payment_type,company,big_tipper"
)
GOOD_ROW = "1.5,7.25,420.0,41.9,-87.6,41.9,-87.7,9,3,5,17031081500,8,32,Cash,Flash Cab,0"


@pytest.fixture
def make_project(tmp_path):
    """Copies the repo's config, dataset YAMLs and schemas to tmp_path; writes `rows` good rows
    as span `span`. Returns tmp_path."""

    def make(span: int = 1, rows: int = 2) -> Path:
        shutil.copy(REPO / "lifecycle.yaml", tmp_path / "lifecycle.yaml")
        shutil.copytree(REPO / "datasets", tmp_path / "datasets", ignore=shutil.ignore_patterns("*.py"))
        shutil.copytree(REPO / "schemas", tmp_path / "schemas")
        span_dir = tmp_path / "work" / "data" / "taxi" / f"span-{span}"
        span_dir.mkdir(parents=True)
        (span_dir / "data.csv").write_text(HEADER + "\n" + "".join(f"{GOOD_ROW}\n" for _ in range(rows)))
        return tmp_path

    return make

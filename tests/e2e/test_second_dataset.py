"""A made-up dataset (bike rides) runs through the unchanged pipeline: prepare, bootstrap, run.

Proves `pipeline/`, `components/` and `models/` hold no taxi knowledge: everything comes from
the dataset YAML.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

pytestmark = pytest.mark.e2e

BIKES_YAML = {
    "name": "bikes",
    "source_csv": "rides.csv",
    "label": {
        "name": "long_ride",
        "expression": "duration_min > 30",
        "drop_source_columns": ["duration_min"],
    },
    "features": {
        "numeric": ["distance_km"],
        "bucketized": ["temperature"],
        "categorical_int": ["station_id"],
        "categorical_string": ["weather"],
    },
    "spans": {"time_column": "started_at", "time_unit": "s", "period": "month", "origin": "2024-01-01"},
    "evaluation": {"slice_features": ["weather"]},
    "schema": "schema.pbtxt",
}


def _write_rides(path, rows=900, seed=7):
    rng = np.random.default_rng(seed)
    distance = rng.gamma(2.0, 3.0, rows).round(2)
    weather = rng.choice(["clear", "rain", "snow"], rows, p=[0.6, 0.3, 0.1])
    duration = distance * 3.5 + (weather == "snow") * 12 + rng.normal(0, 4, rows)
    start = pd.Timestamp("2024-01-01").timestamp()
    frame = pd.DataFrame(
        {
            "started_at": (start + rng.uniform(0, 60 * 86400, rows)).astype(int),
            "distance_km": distance,
            "temperature": rng.normal(12, 8, rows).round(1),
            "station_id": rng.integers(1, 25, rows),
            "weather": weather,
            "duration_min": duration.round(1),
        }
    )
    frame.to_csv(path, index=False)


def test_a_second_dataset_runs_unchanged(tmp_path):
    from ml_lifecycle.config.project import load_config
    from ml_lifecycle.datasets.prepare import prepare_spans
    from ml_lifecycle.datasets.schema import bootstrap_schema
    from ml_lifecycle.pipeline.runners.local import run_span
    from tests.e2e.conftest import describe

    _write_rides(tmp_path / "rides.csv")
    (tmp_path / "bikes.yaml").write_text(yaml.safe_dump(BIKES_YAML))
    (tmp_path / "lifecycle.yaml").write_text(
        yaml.safe_dump(
            {
                "pipeline_name": "bikes-pipeline",
                "dataset": "bikes.yaml",
                "work_dir": "work",
                "training": {"train_steps": 200, "eval_steps": 20},
            }
        )
    )
    config = load_config(tmp_path / "lifecycle.yaml")
    spans = prepare_spans(config.dataset, config.data_root_path)
    assert [s.span for s in spans] == [1, 2]  # January and February 2024
    schema = bootstrap_schema(config.dataset, config.data_root_path, tmp_path / "schema.pbtxt")
    assert {f.name for f in schema.feature} == set(config.dataset.span_columns)

    outcome = run_span(config, 1, progress=lambda _: None)

    assert outcome.error is None, outcome.error
    report = describe(config, outcome)
    assert sum(report.examples_per_split.values()) == spans[0].rows
    assert report.anomalies == []
    assert report.pushed_version is not None
    assert (config.serving_root_path / "bikes" / report.pushed_version / "saved_model.pb").is_file()

"""Data and concept drift recorded by real runs: TFDV's numbers, injected drift, block policy.

Runs after test_taxi_pipeline.py (pytest collects files in name order), in the same store: its
cache test must see the baselines of the first runs, before spans 20-22 add pushed models.
Spans 20-22 are made from span 2's rows: an unchanged copy, a copy with labels flipped for a
subset, and a copy with a shifted numeric feature, a changed categorical mix and a feature that
lost its values.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from tests.e2e.conftest import describe

pytestmark = pytest.mark.e2e


def _rows(config, span):
    with open(config.data_root_path / f"span-{span}" / "data.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def _write_span(config, span, rows):
    directory = config.data_root_path / f"span-{span}"
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "data.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture(scope="module")
def pinned_config(taxi_config):
    """Drift measured against span 2 (pinned), so each made-up span has the same reference."""
    from ml_lifecycle.config.project import DriftConfig

    return taxi_config.model_copy(
        update={"drift": DriftConfig(baseline="pinned", pinned_span=2, concept_max_drop=0.05)}
    )


def _drift_json(report):
    artifact = report.component("drift_validator").outputs["report"][0]
    with open(f"{artifact.uri}/drift.json") as handle:
        return json.load(handle)


def test_recorded_drift_equals_tfdv_for_real_spans(taxi_config, two_span_runs):
    import tensorflow_data_validation as tfdv
    from tfx.components.statistics_gen import stats_artifact_utils
    from tfx.types import standard_artifacts

    from ml_lifecycle.metadata.client import MetadataClient

    first = describe(taxi_config, two_span_runs[0])
    second = describe(taxi_config, two_span_runs[1])
    assert first.drift["verdict"] == "no_baseline"
    assert second.drift["baseline_span"] == 1

    def train_stats(report):
        record = report.component("statistics_gen").outputs["statistics"][0]
        artifact = standard_artifacts.ExampleStatistics()
        artifact.uri = record.uri
        artifact.split_names = str(record.properties["split_names"])
        return stats_artifact_utils.load_statistics(artifact, "train").proto()

    schema = tfdv.load_schema_text(str(taxi_config.dataset.resolve_schema()))
    expected = tfdv.validate_statistics(train_stats(second), schema, previous_statistics=train_stats(first))
    tfdv_scores = {info.path.step[0]: info.drift_measurements[0].value for info in expected.drift_skew_info}
    recorded = next(r for r in MetadataClient.from_config(taxi_config).drift_history() if r.span == 2)
    assert set(recorded.features) == set(tfdv_scores)
    for feature, score in tfdv_scores.items():
        assert recorded.features[feature].score == pytest.approx(score, abs=1e-12), feature


def test_unchanged_copy_is_not_flagged(pinned_config, two_span_runs):
    from ml_lifecycle.pipeline.runners.local import run_span

    _write_span(pinned_config, 21, _rows(pinned_config, 2))
    outcome = run_span(pinned_config, 21, progress=lambda _: None)

    assert outcome.error is None, outcome.error
    report = describe(pinned_config, outcome)
    assert report.drift["baseline_span"] == 2
    assert report.drift["verdict"] == "ok"
    assert report.drift["drifted_feature_count"] == 0


def test_flipped_labels_are_concept_drift_not_data_drift(pinned_config, two_span_runs):
    from ml_lifecycle.pipeline.runners.local import run_span

    rng = np.random.default_rng(0)
    rows = _rows(pinned_config, 2)
    for row in rows:
        if rng.random() < 0.45:
            row["big_tipper"] = "1" if row["big_tipper"] == "0" else "0"
    _write_span(pinned_config, 22, rows)

    outcome = run_span(pinned_config, 22, progress=lambda _: None)

    assert outcome.error is None, outcome.error
    report = describe(pinned_config, outcome)
    assert report.drift["verdict"] == "ok", report.drift.get("summary")
    concept = report.concept_drift
    assert concept["verdict"] == "concept_drift", concept
    assert concept["current_value"] < concept["blessed_value"] - 0.05


def test_injected_drift_is_flagged_on_exactly_those_features_and_block_stops(pinned_config, two_span_runs):
    from ml_lifecycle.components.anomaly_gate.core import BlockedByDriftError
    from ml_lifecycle.config.project import DriftConfig
    from ml_lifecycle.pipeline.runners.local import run_span

    rows = _rows(pinned_config, 2)
    for index, row in enumerate(rows):
        if row["fare"]:
            row["fare"] = f"{float(row['fare']) * 3 + 25:.2f}"  # shifted numeric distribution
        row["payment_type"] = "Credit Card" if index % 10 else "Cash"  # changed categorical mix
        if index % 10:
            row["company"] = ""  # the feature loses its values in 90% of the rows
    _write_span(pinned_config, 20, rows)
    blocking = pinned_config.model_copy(
        update={"drift": DriftConfig(baseline="pinned", pinned_span=2, policy="block")}
    )
    served_before = sorted(p.name for p in (blocking.serving_root_path / "taxi").iterdir())

    outcome = run_span(blocking, 20, progress=lambda _: None)

    assert isinstance(outcome.error, BlockedByDriftError)
    assert "fare" in str(outcome.error) and "payment_type" in str(outcome.error)
    report = describe(blocking, outcome)
    assert report.component("trainer").state == "NOT RUN"
    assert report.pushed_version is None
    table = _drift_json(report)
    flagged = {row["feature"] for row in table["features"] if row["drifted"] or row.get("presence_drifted")}
    assert flagged == {"fare", "payment_type", "company"}
    assert sorted(p.name for p in (blocking.serving_root_path / "taxi").iterdir()) == served_before


def test_drift_command_and_html_report_read_the_history(taxi_config, two_span_runs, tmp_path, capsys):
    import yaml

    from ml_lifecycle.cli.main import main
    from tests.e2e.conftest import REPO

    project = tmp_path / "lifecycle.yaml"
    project.write_text(
        yaml.safe_dump({"dataset": str(REPO / "datasets" / "taxi.yaml"), "work_dir": taxi_config.work_dir})
    )
    assert main(["--config", str(project), "drift"]) == 0
    table = capsys.readouterr().out
    lines = [line for line in table.splitlines() if line[:4].strip().isdigit()]
    assert [int(line.split()[0]) for line in lines[:2]] == [1, 2]
    assert "no_baseline" in lines[0] and "fare" in table

    assert main(["--config", str(project), "drift", "--feature", "fare"]) == 0
    assert "fare" in capsys.readouterr().out

    out = tmp_path / "report"
    assert main(["--config", str(project), "report", "--out", str(out)]) == 0
    html = (out / "index.html").read_text()
    assert html.count("<img") >= 4
    assert "Data drift per feature" in html and "Concept" in html

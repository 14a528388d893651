"""`lifecycle diff` on stored statistics the drift check cannot compare: a DataError naming the
runs and the statistics artifacts, not a traceback."""

from __future__ import annotations

import re

import pytest
from tensorflow_metadata.proto.v0 import statistics_pb2

from ml_lifecycle.base.contracts import ArtifactFile, ComponentId
from ml_lifecycle.base.errors import DataError
from ml_lifecycle.metadata import diff
from ml_lifecycle.metadata.runs import RunReport
from ml_lifecycle.store.queries import ArtifactRecord, ComponentRun


def _component(component_id: str, key: str, record: ArtifactRecord) -> ComponentRun:
    return ComponentRun(component_id, "COMPLETE", 1.0, outputs={key: [record]})


def _report(run_id: str, statistics: ArtifactRecord, schema: ArtifactRecord) -> RunReport:
    return RunReport(
        run_id=run_id,
        components=[
            _component(ComponentId.STATISTICS_GEN, "statistics", statistics),
            _component(ComponentId.SCHEMA, "schema", schema),
        ],
    )


def test_statistics_of_several_datasets_are_a_data_error(tmp_path, monkeypatch):
    schema_dir = tmp_path / "schema"
    schema_dir.mkdir()
    (schema_dir / ArtifactFile.SCHEMA).write_text(
        'feature { name: "fare" type: FLOAT '
        "drift_comparator { jensen_shannon_divergence { threshold: 0.1 } } }\n"
    )
    schema = ArtifactRecord(id=1, type="Schema", uri=str(schema_dir), properties={})
    reports = {
        run: _report(
            run, ArtifactRecord(artifact_id, "ExampleStatistics", str(tmp_path / f"stats-{run}"), {}), schema
        )
        for artifact_id, run in ((2, "a"), (3, "b"))
    }
    # Two slices, neither the default one: the drift check cannot tell which to compare.
    sliced = statistics_pb2.DatasetFeatureStatisticsList()
    sliced.datasets.add(name="hour=1")
    sliced.datasets.add(name="hour=2")
    monkeypatch.setattr(diff, "describe_run", lambda store, pipeline, run, ids: reports[run])
    monkeypatch.setattr(diff, "statistics_protos", lambda record: {"train": sliced})

    with pytest.raises(
        DataError,
        match=re.escape(
            f"runs a -> b: cannot compare the train split statistics {tmp_path / 'stats-b'} with "
            f"{tmp_path / 'stats-a'} under run b's schema: the current statistics hold 2 datasets"
        ),
    ):
        diff.diff_runs(None, "p", "a", "b", [])

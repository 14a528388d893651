"""The report's collection step, on values: which pushed model each concept-drift check scored."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml_lifecycle.metadata.drift import ConceptRecord
from ml_lifecycle.reports.collect import concept_versions
from ml_lifecycle.store.queries import PushedModelRecord


def test_concept_versions_name_the_pushed_model_by_its_model_or_pushed_model_id():
    pushed = [
        PushedModelRecord(10, "1700000001", "/serving/1700000001", 1, 5, 0),
        PushedModelRecord(20, "1700000002", "/serving/1700000002", 2, None, 0),
    ]
    concept = [
        ConceptRecord(span=1, verdict="no_pushed_model"),
        ConceptRecord(span=2, verdict="ok", pushed_model_id=5),  # the Trainer's Model id
        ConceptRecord(span=3, verdict="ok", pushed_model_id=20),  # the PushedModel id
        ConceptRecord(span=4, verdict="ok", pushed_model_id=99),  # a model this store never pushed
    ]
    assert concept_versions(concept, pushed) == {2: "1700000001", 3: "1700000002"}


def test_run_points_name_classes_by_value_and_carry_the_models_task():
    from ml_lifecycle.base.contracts import Task
    from ml_lifecycle.base.model_description import ModelDescription
    from ml_lifecycle.metadata.runs import MetricComparison, RunReport
    from ml_lifecycle.reports.collect import _run_point

    report = RunReport(
        "r1",
        [],
        span=2,
        metrics=[MetricComparison("recall[class 1]", 0.5), MetricComparison("f1_score[macro]", 0.7)],
        model_description=ModelDescription(Task.MULTICLASS, "species", ("Adelie", "Chinstrap")),
    )
    point = _run_point(report)
    assert point.metrics == {"recall[Chinstrap]": 0.5, "f1_score[macro]": 0.7}
    assert point.task is Task.MULTICLASS and point.classes == ("Adelie", "Chinstrap")


@pytest.fixture
def taxi_config(monkeypatch):
    """The repo's taxi project, read through a metadata store that holds no runs yet."""
    from ml_metadata import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    from ml_lifecycle.config.project import load_config
    from ml_lifecycle.metadata.client import MetadataClient
    from ml_lifecycle.reports import collect

    connection = metadata_store_pb2.ConnectionConfig()
    connection.fake_database.SetInParent()
    empty = MetadataClient(metadata_store.MetadataStore(connection), "p")
    monkeypatch.setattr(collect.MetadataClient, "from_config", classmethod(lambda cls, config: empty))
    return load_config(Path(__file__).resolve().parents[3] / "lifecycle.yaml")


def test_collect_report_takes_the_task_and_concept_allowances_from_the_config(taxi_config):
    from ml_lifecycle.base.contracts import Task
    from ml_lifecycle.reports import collect

    # The taxi label made a regression one (the default task is binary).
    label = taxi_config.dataset.label.model_copy(update={"task": Task.REGRESSION})
    dataset = taxi_config.dataset.model_copy(update={"label": label})
    config = taxi_config.model_copy(update={"dataset": dataset})

    data = collect.collect_report(config)

    assert data.runs == [] and data.task is Task.REGRESSION
    assert data.concept_max_relative_increase == config.drift.concept_max_relative_increase
    assert data.concept_max_drop == config.drift.concept_max_drop
    assert data.gate_metric == "root_mean_squared_error"  # the regression default's, as TFMA lists it


def test_collect_report_names_the_configured_gates_metric_as_tfma_lists_it(taxi_config):
    from ml_lifecycle.config.evaluation import EvaluationThresholds
    from ml_lifecycle.reports import collect

    gate = EvaluationThresholds(metric="BinaryAccuracy", min_value=0.6)
    config = taxi_config.model_copy(update={"evaluation": gate})

    assert collect.collect_report(config).gate_metric == "binary_accuracy"

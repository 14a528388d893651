"""The report's collection step, on values: which pushed model each concept-drift check scored."""

from __future__ import annotations

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

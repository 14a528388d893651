"""Drift and concept-drift history on a hand-built store shared by two pipelines."""

from __future__ import annotations

from ml_lifecycle.base.contracts import FeatureScore
from ml_lifecycle.metadata.client import MetadataClient
from ml_lifecycle.metadata.drift import drift_history

from .conftest import OTHER_PIPELINE, PIPELINE


def test_each_pipeline_sees_only_its_own_drift_reports(shared_store):
    for pipeline, spans in ((PIPELINE, [1, 2]), (OTHER_PIPELINE, [2, 3])):
        records = MetadataClient(shared_store.store, pipeline).drift_history()
        assert [r.span for r in records] == spans
        assert {r.policy for r in records} == {pipeline}  # the fixture writes the name as policy
        assert [r.artifact_id for r in records] == [
            shared_store.newest[pipeline]["DriftReport"][s] for s in spans
        ]


def test_each_pipeline_sees_only_its_own_concept_checks(shared_store):
    for pipeline, spans in ((PIPELINE, [1, 2]), (OTHER_PIPELINE, [2, 3])):
        records = MetadataClient(shared_store.store, pipeline).concept_history()
        assert [r.span for r in records] == spans
        assert {r.metric for r in records} == {f"auc-{pipeline}"}
        assert [r.pushed_model_id for r in records] == [100 + s for s in spans]


def test_a_pipeline_never_run_in_the_store_has_no_history(shared_store):
    client = MetadataClient(shared_store.store, "never-ran")
    assert client.drift_history() == [] and client.concept_history() == []


def test_without_a_pipeline_name_the_whole_store_is_read(shared_store):
    assert [r.span for r in drift_history(shared_store.store)] == [1, 2, 3]


def test_feature_scores_in_the_positional_and_the_named_form(shared_store):
    [_, ours] = MetadataClient(shared_store.store, PIPELINE).drift_history()
    assert ours.features == {"fare": FeatureScore(0.04, 0.1, False, 0.02)}
    [_, theirs] = MetadataClient(shared_store.store, OTHER_PIPELINE).drift_history()
    assert theirs.verdict == "drift"
    assert theirs.features == {"tips": FeatureScore(0.5, 0.1, True, None)}


def test_reports_by_span_take_the_span_they_are_given(shared_store):
    client = MetadataClient(shared_store.store, PIPELINE)
    ours = shared_store.newest[PIPELINE]
    records = client.drift_reports_by_span({7: ours["DriftReport"][2], 5: ours["DriftReport"][1]})
    assert [(r.span, r.artifact_id) for r in records] == [
        (5, ours["DriftReport"][1]),
        (7, ours["DriftReport"][2]),
    ]
    [concept] = client.concept_reports_by_span({9: ours["ConceptDriftReport"][2], 4: 999999})
    assert (concept.span, concept.metric, concept.pushed_model_id) == (9, f"auc-{PIPELINE}", 102)

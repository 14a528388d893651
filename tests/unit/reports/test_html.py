"""The HTML report's pure renderer, fed hand-built ReportData (no pipeline, no metadata store)."""

from __future__ import annotations

import base64
import re

import pytest

from ml_lifecycle.base.contracts import FeatureScore
from ml_lifecycle.metadata.drift import ConceptRecord, DriftRecord
from ml_lifecycle.reports.collect import ReportData, RunPoint, SpanStats, missing_counts, span_stats
from ml_lifecycle.reports.render.page import SECTIONS, render_report
from ml_lifecycle.store.queries import PushedModelRecord

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _images(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r"<img [^>]*src='data:image/png;base64,([^']+)'", page)]


def _full_data() -> ReportData:
    drift = [
        DriftRecord(span=1, verdict="no_baseline", policy="warn"),
        DriftRecord(
            span=2,
            verdict="ok",
            policy="warn",
            baseline_span=1,
            max_score=0.04,
            example_count_ratio=1.22,
            features={
                "fare": FeatureScore(0.04, 0.1, False, 0.02),
                "payment_type": FeatureScore(0.03, 0.05, False, None),
            },
        ),
        DriftRecord(
            span=3,
            verdict="drift",
            policy="warn",
            baseline_span=2,
            drifted_feature_count=1,
            max_score=0.31,
            dataset_drift=True,
            example_count_ratio=0.4,
            features={
                "fare": FeatureScore(0.31, 0.1, True, 0.5),
                "payment_type": FeatureScore(0.02, 0.05, False, None),
            },
        ),
    ]
    concept = [
        ConceptRecord(span=1, verdict="no_pushed_model"),
        ConceptRecord(span=2, verdict="ok", metric="auc", blessed_value=0.8, current_value=0.79, drop=0.01),
        ConceptRecord(
            span=3, verdict="concept_drift", metric="auc", blessed_value=0.81, current_value=0.7, drop=0.11
        ),
    ]
    runs = [
        RunPoint(
            "run-1", 1, {"auc": 0.80, "binary_accuracy": 0.75}, blessed=True, pushed_version="1700000001"
        ),
        RunPoint(
            "run-2", 2, {"auc": 0.81, "binary_accuracy": 0.76}, blessed=True, pushed_version="1700000002"
        ),
        RunPoint("run-3", 3, {"auc": 0.70, "binary_accuracy": 0.70}, blessed=False),
        RunPoint("run-4", 4, {}, blessed=None, failed_component="anomaly_gate"),
    ]
    spans = [
        SpanStats(1, {"train": 600, "eval": 300}, {"fare": 0.0, "payment_type": 0.0, "company": 0.3}),
        SpanStats(2, {"train": 700, "eval": 400}, {"fare": 0.01, "payment_type": 0.0, "company": 0.35}),
        SpanStats(3, {"train": 300, "eval": 140}, {"fare": 0.0, "payment_type": 0.0, "company": 0.4}),
    ]
    return ReportData(
        pipeline_name="ml-lifecycle",
        dataset_name="taxi",
        drift_baseline="pushed",
        drift_policy="warn",
        concept_max_drop=0.05,
        runs=runs,
        spans=spans,
        drift=drift,
        concept=concept,
        concept_versions={2: "1700000001", 3: "1700000002"},
        pushed=[
            PushedModelRecord(10, "1700000001", "/serving/1700000001", 1, 5, 0),
            PushedModelRecord(20, "1700000002", "/serving/1700000002", 2, 15, 0),
        ],
    )


def test_full_report_has_every_section_and_one_image_per_plot():
    page = render_report(_full_data())

    assert page.startswith("<!DOCTYPE html>")
    for key, title in SECTIONS:
        assert f"id='{key}'" in page
        assert f"<h2>{title}</h2>" in page
    # Drift score, PSI, examples, missing values, model metrics, concept drift.
    images = _images(page)
    assert len(images) == 6
    assert page.count("<img ") == 6
    assert all(image.startswith(PNG_SIGNATURE) for image in images)
    assert "<script" not in page


def test_tables_name_drifted_features_pushed_versions_and_concept_drift():
    page = render_report(_full_data())

    drift_section = page.split("id='drift'")[1].split("id='examples'")[0]
    assert re.search(r"<td class='bad text'>fare</td>", drift_section)  # span 3's drifted feature
    assert "0.310 (0.500) *" in drift_section
    assert "Span(s) 1: no baseline yet" in drift_section

    models_section = page.split("id='models'")[1].split("id='concept'")[0]
    assert "1700000001" in models_section and "1700000002" in models_section
    assert "anomaly_gate" in models_section  # the failed run

    concept_section = page.split("id='concept'")[1]
    assert "CONCEPT DRIFT" in concept_section
    assert "Span(s) 1: no pushed model to check yet." in concept_section

    missing_section = page.split("id='missing'")[1].split("id='models'")[0]
    assert "company" in missing_section and "40.0%" in missing_section
    assert "Never missing: payment_type." in missing_section


def test_empty_store_renders_sentences_instead_of_plots():
    page = render_report(ReportData(pipeline_name="empty"))

    assert "<img " not in page
    for _, title in SECTIONS:
        assert f"<h2>{title}</h2>" in page
    assert "No drift reports recorded yet" in page
    assert "No statistics recorded yet" in page
    assert "No pipeline runs recorded yet." in page
    assert "No concept-drift checks recorded yet." in page


def test_first_span_only_has_no_drift_or_concept_plot():
    data = ReportData(
        pipeline_name="p",
        runs=[RunPoint("r1", 1, {"auc": 0.8, "binary_accuracy": 0.7}, blessed=True, pushed_version="17")],
        spans=[SpanStats(1, {"train": 10, "eval": 5}, {"fare": 0.0})],
        drift=[DriftRecord(span=1, verdict="no_baseline", policy="warn")],
        concept=[ConceptRecord(span=1, verdict="no_pushed_model")],
    )
    page = render_report(data)

    # Examples and model metrics only; no feature is ever missing.
    assert len(_images(page)) == 2
    assert "no baseline yet" in page
    assert "No span has been compared with a baseline yet" in page
    assert "No feature has a missing value in any span." in page
    assert "No span has been checked against a pushed model yet." in page
    assert ">17<" in page


def test_text_is_escaped():
    page = render_report(ReportData(pipeline_name="<x>", notes=["run <r>: could not be described"]))

    assert "<x>" not in page and "&lt;x&gt;" in page
    assert "&lt;r&gt;" in page


def test_concept_check_without_a_measurable_metric_is_a_sentence_not_a_point():
    data = ReportData(
        pipeline_name="p",
        concept=[
            ConceptRecord(span=2, verdict="ok", metric="auc", blessed_value=0.8, current_value=float("nan"))
        ],
    )
    page = render_report(data)

    assert "<img " not in page
    assert "Span(s) 2: the metric could not be measured" in page


def test_missing_counts_include_empty_csv_cells():
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import statistics_pb2

    # 10 examples: `fare` is an empty cell in 2 (present, zero values) and absent in 1.
    proto = text_format.Parse(
        """
        datasets {
          num_examples: 10
          features {
            path { step: "fare" }
            num_stats { common_stats {
              num_non_missing: 9 num_missing: 1 min_num_values: 0 max_num_values: 1 tot_num_values: 7
            } }
          }
          features {
            path { step: "company" }
            string_stats { common_stats {
              num_non_missing: 10 min_num_values: 1 max_num_values: 1 tot_num_values: 10
            } }
          }
        }
        """,
        statistics_pb2.DatasetFeatureStatisticsList(),
    )
    assert missing_counts(proto.datasets[0]) == {"fare": (3, 10), "company": (0, 10)}
    stats = span_stats(4, {"train": proto, "eval": proto})
    assert stats.examples_per_split == {"train": 10, "eval": 10}
    assert stats.examples == 20
    assert stats.missing_fraction == pytest.approx({"company": 0.0, "fare": 0.3})

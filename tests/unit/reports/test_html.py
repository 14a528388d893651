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


def _taxi_metrics(auc: float, accuracy: float, calibration: float, examples: int) -> dict[str, float]:
    """The overall metrics a taxi run's Evaluator writes (`pipeline.eval_config.task_metrics`)."""
    return {
        "auc": auc,
        "binary_accuracy": accuracy,
        "calibration": calibration,
        "example_count": float(examples),
        "mean_label": 0.3,
        "mean_prediction": 0.3 * calibration,
    }


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
        RunPoint("run-1", 1, _taxi_metrics(0.80, 0.75, 1.02, 300), blessed=True, pushed_version="1700000001"),
        RunPoint("run-2", 2, _taxi_metrics(0.81, 0.76, 0.97, 400), blessed=True, pushed_version="1700000002"),
        RunPoint("run-3", 3, _taxi_metrics(0.70, 0.70, 1.31, 140), blessed=False),
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


def _models_html(data: ReportData) -> str:
    return render_report(data).split("id='models'")[1].split("id='concept'")[0]


def _headers(section: str) -> list[str]:
    return re.findall(r"<th(?: class=text)?>([^<]*)</th>", section)


def _models_figure(monkeypatch, data: ReportData):
    """The models section's plot, as `models_section` drew it."""
    from ml_lifecycle.reports.render import models

    drawn = []
    real_png_img = models.png_img
    monkeypatch.setattr(
        models, "png_img", lambda figure, alt: drawn.append(figure) or real_png_img(figure, alt)
    )
    models.models_section(data)
    [figure] = drawn
    return figure


def _panels(figure) -> list[tuple[str, list[str]]]:
    """Each axes of a figure, top to bottom: its y label and the metrics drawn on it."""
    return [
        (
            axes.get_ylabel(),
            [line.get_label() for line in axes.get_lines() if not line.get_label().startswith("_")],
        )
        for axes in figure.axes
    ]


def _pushed_points(figure) -> dict[str, tuple[float, float]]:
    """Version -> where its pushed star's annotation points."""
    return {
        text.get_text().removeprefix("v"): tuple(text.xy)
        for axes in figure.axes
        for text in axes.texts
        if text.get_text().startswith("v")
    }


def test_binary_models_table_and_plot_have_the_taxi_runs_layout(monkeypatch):
    data = _full_data()
    section = _models_html(data)
    assert _headers(section) == [
        "#",
        "span",
        "auc",
        "binary_accuracy",
        "calibration",
        "example_count",
        "blessed",
        "pushed version",
        "failed in",
        "run id",
    ]
    assert "<td>0.8000</td><td>0.7500</td><td>1.0200</td><td>300</td>" in section
    assert "mean_label" not in section and "mean_prediction" not in section
    # AUC and accuracy share a [0, 1] panel; calibration (around 1) has its own; the count none.
    figure = _models_figure(monkeypatch, data)
    assert _panels(figure) == [
        ("metric value", ["auc", "binary_accuracy"]),
        ("calibration", ["calibration"]),
    ]
    # The pushed stars sit on the gating metric, the default gate's AUC.
    assert _pushed_points(figure) == {"1700000001": (1, 0.80), "1700000002": (2, 0.81)}


def test_a_configured_gate_leads_the_models_table_and_carries_the_pushed_stars(monkeypatch):
    data = _full_data()
    data.gate_metric = "binary_accuracy"
    assert _headers(_models_html(data))[2:6] == ["binary_accuracy", "auc", "calibration", "example_count"]
    figure = _models_figure(monkeypatch, data)
    assert _panels(figure)[0] == ("metric value", ["binary_accuracy", "auc"])
    assert _pushed_points(figure) == {"1700000001": (1, 0.75), "1700000002": (2, 0.76)}


def test_before_any_evaluation_the_table_names_the_configured_gate():
    data = ReportData(pipeline_name="p", gate_metric="binary_accuracy", runs=[RunPoint("r1", 1, {})])
    assert _headers(_models_html(data))[2:3] == ["binary_accuracy"]


def test_regression_models_section_charts_its_errors_not_auc():
    from ml_lifecycle.base.contracts import Task

    metrics = {"example_count": 104.0, "mean_absolute_error": 18471.2, "mean_label": 228183.0}
    runs = [
        RunPoint("r1", 1, {**metrics, "root_mean_squared_error": 22253.4, "mean_squared_error": 4.95e8}),
        RunPoint("r2", 2, {**metrics, "root_mean_squared_error": 23330.6, "mean_squared_error": 5.44e8}),
    ]
    section = _models_html(ReportData(pipeline_name="flats", task=Task.REGRESSION, runs=runs))
    assert _headers(section)[2:6] == [
        "root_mean_squared_error",
        "mean_absolute_error",
        "mean_squared_error",
        "example_count",
    ]
    assert "auc" not in section and "mean_label" not in section
    assert "<td>23,331</td>" in section and "<td>104</td>" in section
    assert len(_images(section)) == 1


def test_multiclass_models_section_shows_macro_f1_and_recall_per_class_of_the_newest_model():
    from ml_lifecycle.base.contracts import Task

    classes = ("Adelie", "Chinstrap", "Gentoo")
    metrics = {
        "sparse_categorical_accuracy": 0.88,
        "sparse_categorical_crossentropy": 0.35,
        "f1_score[macro]": 0.70,
        "f1_score[Adelie]": 0.9,
        "example_count": 109.0,
        "recall[Adelie]": 0.97,
        "recall[Chinstrap]": 0.125,
        "recall[Gentoo]": 1.0,
    }
    # The dataset's task says binary; the runs' models are multiclass, and they decide.
    runs = [
        RunPoint("r0", 1, {}, failed_component="evaluator", task=Task.MULTICLASS, classes=classes),
        RunPoint("r1", 2, metrics, blessed=True, pushed_version="7", task=Task.MULTICLASS, classes=classes),
    ]
    section = _models_html(ReportData(pipeline_name="penguins", runs=runs))
    assert _headers(section)[2:9] == [
        "sparse_categorical_accuracy",
        "sparse_categorical_crossentropy",
        "f1_score[macro]",
        "example_count",
        "recall[Adelie]",
        "recall[Chinstrap]",
        "recall[Gentoo]",
    ]
    assert "<td>0.1250</td>" in section
    assert "f1_score[Adelie]" not in section
    assert len(_images(section)) == 1


def test_metrics_of_one_scale_share_an_axis_and_others_get_their_own():
    from ml_lifecycle.reports.render.models import FRACTION, LABEL_UNITS, _axes_groups

    groups = _axes_groups(["root_mean_squared_error", "mean_squared_error", "mean_absolute_error"])
    assert [(scale, names) for scale, names in groups][0] == (
        LABEL_UNITS,
        ["root_mean_squared_error", "mean_absolute_error"],
    )
    assert groups[1][1] == ["mean_squared_error"] and groups[1][0].label == "mean_squared_error"
    binary = _axes_groups(["auc", "binary_accuracy", "calibration"])
    assert [names for _, names in binary] == [["auc", "binary_accuracy"], ["calibration"]]
    assert binary[0][0] is FRACTION
    multiclass = _axes_groups(
        ["sparse_categorical_accuracy", "sparse_categorical_crossentropy", "f1_score[macro]"]
    )
    assert [names for _, names in multiclass] == [
        ["sparse_categorical_accuracy", "f1_score[macro]"],
        ["sparse_categorical_crossentropy"],
    ]


def test_a_regression_concept_check_shows_the_errors_relative_increase():
    data = ReportData(
        pipeline_name="flats",
        concept_max_drop=0.05,
        concept_max_relative_increase=0.1,
        concept=[
            ConceptRecord(
                span=2, verdict="ok", metric="rmse", blessed_value=20000.0, current_value=21000.0, drop=0.05
            )
        ],
    )
    section = render_report(data).split("id='concept'")[1]
    assert "allowed increase 10%" in section and "allowed drop" not in section
    assert "<td>+5.0%</td>" in section
    assert len(_images(section)) == 1
    binary = render_report(_full_data()).split("id='concept'")[1]
    assert "allowed drop 0.05" in binary and "<td class='bad'>0.1100</td>" in binary

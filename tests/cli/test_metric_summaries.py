"""The metrics `lifecycle run` and `lifecycle diff` print, per task: the task's headline metrics
(gating metric first), baselines and changes, per-class recall by class value; hand-built runs."""

from __future__ import annotations

import pytest

from ml_lifecycle.base.contracts import Task
from ml_lifecycle.base.model_description import ModelDescription
from ml_lifecycle.cli.metadata_commands import format_diff
from ml_lifecycle.cli.run_commands import _format_report
from ml_lifecycle.metadata.diff import Change, RunDiff
from ml_lifecycle.metadata.runs import MetricComparison, RunReport
from ml_lifecycle.pipeline.runners.local import RunOutcome

OUTCOME = RunOutcome(run_id="span-2-run", span=2, csv_rows=30, seconds=4.0)


def _metric_lines(report: RunReport) -> list[str]:
    """The summary's lines between `anomalies` and `pushed` (no drift, no blessing in these runs)."""
    return _format_report(report, OUTCOME).splitlines()[2:-1]


def test_binary_summary_shows_auc_first_with_its_baseline_and_change():
    report = RunReport(
        "span-2-run",
        [],
        metrics=[
            MetricComparison("auc", 0.81, 0.80),
            MetricComparison("binary_accuracy", 0.75, 0.70),
            MetricComparison("example_count", 300.0, 300.0),
            MetricComparison("mean_label", 0.3),
        ],
    )
    assert _metric_lines(report) == [
        "  auc              0.8100  baseline 0.8000  change +0.0100",
        "  binary_accuracy  0.7500  baseline 0.7000  change +0.0500",
        "  example_count    300  baseline 300  change +0",
    ]


def test_first_multiclass_run_notes_the_missing_baseline_on_accuracy_and_lists_recall_per_class():
    description = ModelDescription(Task.MULTICLASS, "species", ("Adelie", "Chinstrap", "Gentoo"))
    metrics = [
        MetricComparison("example_count", 106.0),
        MetricComparison("f1_score[class 0]", 0.85),
        MetricComparison("f1_score[macro]", 0.8112),
        MetricComparison("sparse_categorical_accuracy", 0.8491),
        MetricComparison("sparse_categorical_crossentropy", 0.3283),
    ]
    metrics += [
        MetricComparison(f"recall[class {i}]", value) for i, value in enumerate((0.8868, 0.5238, 1.0))
    ]
    report = RunReport("span-1-run", [], metrics=metrics, model_description=description)
    assert _metric_lines(report) == [
        "  sparse_categorical_accuracy     0.8491  (no baseline: first blessed model)",
        "  sparse_categorical_crossentropy 0.3283",
        "  f1_score[macro]                 0.8112",
        "  example_count                   106",
        "  recall per class                Adelie 0.89  Chinstrap 0.52  Gentoo 1.00",
    ]


def test_regression_summary_shows_errors_not_auc_and_reads_the_task_from_the_metrics():
    report = RunReport(
        "span-2-run",
        [],
        metrics=[
            MetricComparison("example_count", 94.0),
            MetricComparison("mean_absolute_error", 18177.3),
            MetricComparison("mean_label", 220095.4),
            MetricComparison("root_mean_squared_error", 23330.6, 22253.0),
        ],
    )
    lines = _metric_lines(report)
    assert lines[0] == "  root_mean_squared_error 23,331  baseline 22,253  change +1,078"
    assert [line.split()[0] for line in lines] == [
        "root_mean_squared_error",
        "mean_absolute_error",
        "example_count",
    ]


def _diff(task: Task | None, metrics: list[Change], headline_count: int) -> str:
    diff = RunDiff("run-a", "run-b", Change("span", 1, 2), task=task)
    diff.metrics, diff.headline_count = metrics, headline_count
    return format_diff(diff)


def test_diff_lists_the_headline_first_and_large_errors_in_whole_units():
    out = _diff(
        Task.REGRESSION,
        [
            Change("root_mean_squared_error", 22253.4, 23330.6),
            Change("mean_squared_error", 495213432.0, 544317960.6),
            Change("example_count", 104.0, 94.0),
            Change("mean_label", 228183.3, 220095.4),
        ],
        headline_count=3,
    )
    section = out.split("metrics:", 1)[1].splitlines()
    assert section[0] == "  regression model, headline first"
    assert section[1].split() == ["root_mean_squared_error", "22,253", "->", "23,331", "(+1,077)"]
    assert section[2].split() == ["mean_squared_error", "495,213,432", "->", "544,317,961", "(+49,104,529)"]
    assert section[3].split() == ["example_count", "104", "->", "94", "(-10)"]
    assert section[4].strip() == "other metrics:"
    assert section[5].split()[0] == "mean_label"
    assert "auc" not in out


def test_diff_of_fractions_keeps_four_decimals_and_no_headline_header_without_a_task():
    out = _diff(None, [Change("recall[Gentoo]", 1.0, 1.0), Change("auc", 0.8012, 0.7901)], 0)
    section = out.split("metrics:", 1)[1].splitlines()
    assert section[0] == ""
    assert section[1].split() == ["recall[Gentoo]", "1.0000", "->", "1.0000", "(+0.0000)"]
    assert section[2].split() == ["auc", "0.8012", "->", "0.7901", "(-0.0111)"]


def _first_binary_run() -> RunReport:
    """A first run: nothing blessed before it, so no metric has a baseline."""
    return RunReport(
        "span-1-run",
        [],
        metrics=[
            MetricComparison("auc", 0.81),
            MetricComparison("binary_accuracy", 0.75),
            MetricComparison("calibration", 1.02),
            MetricComparison("example_count", 300.0),
        ],
    )


def test_a_configured_gate_leads_the_summary_and_carries_the_no_baseline_note():
    lines = _format_report(_first_binary_run(), OUTCOME, "binary_accuracy").splitlines()[2:-1]
    assert lines == [
        "  binary_accuracy  0.7500  (no baseline: first blessed model)",
        "  auc              0.8100",
        "  calibration      1.0200",
        "  example_count    300",
    ]


@pytest.fixture
def gated_on_accuracy(make_project):
    """The CLI test project with its Evaluator gated on binary accuracy instead of AUC."""
    root = make_project(span=1, rows=2)
    config = root / "lifecycle.yaml"
    config.write_text(config.read_text() + "evaluation:\n  metric: BinaryAccuracy\n  min_value: 0.6\n")
    return config


def test_lifecycle_run_puts_the_configured_gate_first(gated_on_accuracy, monkeypatch, capsys):
    from ml_lifecycle.cli import main as cli
    from ml_lifecycle.metadata.client import MetadataClient
    from ml_lifecycle.pipeline.runners import local

    class Store:
        def run(self, run_id, component_ids):
            return _first_binary_run()

    monkeypatch.setattr(local, "run_span", lambda config, span, progress, force=False: OUTCOME)
    monkeypatch.setattr(MetadataClient, "from_config", classmethod(lambda cls, config: Store()))
    assert cli.main(["--config", str(gated_on_accuracy), "run", "--span", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    first = out.index("  anomalies  none") + 1
    assert out[first] == "  binary_accuracy  0.7500  (no baseline: first blessed model)"
    assert out[first + 1] == "  auc              0.8100"


def test_an_up_to_date_span_prints_its_recorded_summary_without_reading_the_store(
    gated_on_accuracy, monkeypatch, capsys
):
    from ml_lifecycle.cli import main as cli
    from ml_lifecycle.metadata.client import MetadataClient
    from ml_lifecycle.pipeline.runners import local

    standing = RunOutcome(
        run_id="span-2-earlier",
        span=2,
        csv_rows=30,
        seconds=0.01,
        up_to_date=True,
        summary=["  blessed    yes"],
    )
    forced: list[bool] = []

    def run_span(config, span, progress, force=False):
        forced.append(force)
        return standing

    def no_store(cls, config):
        raise AssertionError("an up-to-date span with a summary must not read the store")

    monkeypatch.setattr(local, "run_span", run_span)
    monkeypatch.setattr(MetadataClient, "from_config", classmethod(no_store))
    assert cli.main(["--config", str(gated_on_accuracy), "run", "--span", "2"]) == 0
    out = capsys.readouterr().out.splitlines()

    assert out[1].startswith("span 2: UP TO DATE, nothing it depends on changed since run span-2-earlier")
    assert out[2:] == ["  blessed    yes"] and forced == [False]


def test_a_complete_run_attaches_its_printed_summary_to_the_record(gated_on_accuracy, monkeypatch, capsys):
    from ml_lifecycle.cli import main as cli
    from ml_lifecycle.metadata.client import MetadataClient
    from ml_lifecycle.pipeline.runners import local, up_to_date

    class Store:
        def run(self, run_id, component_ids):
            return _first_binary_run()

    attached: list[tuple] = []
    forced: list[bool] = []

    def run_span(config, span, progress, force=False):
        forced.append(force)
        return OUTCOME

    monkeypatch.setattr(local, "run_span", run_span)
    monkeypatch.setattr(MetadataClient, "from_config", classmethod(lambda cls, config: Store()))
    monkeypatch.setattr(
        up_to_date,
        "attach_summary",
        lambda config, span, run_id, lines: attached.append((span, run_id, lines)),
    )
    assert cli.main(["--config", str(gated_on_accuracy), "run", "--span", "2", "--force"]) == 0
    printed = capsys.readouterr().out.splitlines()

    assert forced == [True] and len(attached) == 1 and attached[0][:2] == (2, "span-2-run")
    # Everything after the status line, as printed.
    assert (
        attached[0][2] == printed[2:]
        and "  binary_accuracy  0.7500  (no baseline: first blessed model)" in printed
    )

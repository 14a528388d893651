"""`run_span` answers an up-to-date span from its record without running the pipeline, runs it
with `force`, and records only runs that completed."""

from __future__ import annotations

import pytest

from ml_lifecycle.config.project import PipelineConfig
from ml_lifecycle.pipeline.runners import local
from ml_lifecycle.pipeline.runners.local import RunOutcome, run_span
from ml_lifecycle.pipeline.runners.up_to_date import RunRecord, UpToDateCheck

RECORD = RunRecord(
    fingerprint="f",
    fingerprint_parts={"config": "c"},
    store_marker={"executions_max_id": 7},
    run_id="span-1-earlier",
    recorded_at="2026-12-01T00:00:00+00:00",
    output_uris=[],
    summary=["  blessed    yes"],
)


@pytest.fixture
def config(tmp_path, tiny_dataset_config, tiny_span):
    data_root, _ = tiny_span([["10.0", "41.9", "5", "Cash", "1"]], span=1)
    return PipelineConfig(
        dataset=tiny_dataset_config(), work_dir=str(tmp_path / "work"), data_root=str(data_root)
    )


@pytest.fixture
def pipeline_runs(monkeypatch):
    """Replaces the TFX run: records each call, answers with `result` (an error or None)."""
    calls: list[dict] = []
    recorded: list[tuple] = []
    result: dict = {"error": None}

    def fake_run(config, span, csv_rows, progress):
        calls.append({"span": span, "csv_rows": csv_rows})
        return RunOutcome(
            run_id=f"span-{span}-new", span=span, csv_rows=csv_rows, seconds=1.0, error=result["error"]
        )

    monkeypatch.setattr(local, "_run_pipeline", fake_run)
    monkeypatch.setattr(local, "fingerprint_parts", lambda config, span: {"taken": "before the run"})
    monkeypatch.setattr(local, "_marker_or_empty", lambda config: {"executions_max_id": 41})

    def record(config, span, run_id, parts, marker_before):
        recorded.append((span, run_id, parts, marker_before))
        return RECORD

    monkeypatch.setattr(local, "record_complete_run", record)
    return calls, recorded, result


def test_an_up_to_date_span_is_answered_from_its_record(config, pipeline_runs, monkeypatch):
    calls, recorded, _ = pipeline_runs
    monkeypatch.setattr(local, "check_up_to_date", lambda config, span: UpToDateCheck(RECORD, "up to date"))

    outcome = run_span(config, 1, progress=lambda _: None)

    assert outcome.up_to_date and outcome.run_id == "span-1-earlier"
    assert outcome.summary == ["  blessed    yes"] and outcome.csv_rows == 1
    assert calls == [] and recorded == []


def test_force_runs_an_up_to_date_span_and_records_it(config, pipeline_runs, monkeypatch):
    calls, recorded, _ = pipeline_runs
    monkeypatch.setattr(local, "check_up_to_date", lambda config, span: UpToDateCheck(RECORD, "up to date"))

    outcome = run_span(config, 1, progress=lambda _: None, force=True)

    assert not outcome.up_to_date and outcome.run_id == "span-1-new"
    assert calls == [{"span": 1, "csv_rows": 1}]
    assert recorded == [(1, "span-1-new", {"taken": "before the run"}, {"executions_max_id": 41})]


def test_a_stale_record_says_why_the_span_runs_again(config, pipeline_runs, monkeypatch):
    calls, _, _ = pipeline_runs
    monkeypatch.setattr(
        local, "check_up_to_date", lambda config, span: UpToDateCheck(None, "span files changed since run X")
    )
    local.record_path(config, 1).parent.mkdir(parents=True)
    local.record_path(config, 1).write_text("{}")
    lines: list[str] = []

    run_span(config, 1, progress=lines.append)

    assert lines == ["  running it again: span files changed since run X"] and len(calls) == 1


def test_a_failed_run_is_not_recorded(config, pipeline_runs, monkeypatch):
    calls, recorded, result = pipeline_runs
    monkeypatch.setattr(local, "check_up_to_date", lambda config, span: UpToDateCheck(None, "no record"))
    result["error"] = RuntimeError("trainer failed")

    outcome = run_span(config, 1, progress=lambda _: None)

    assert outcome.error is not None and len(calls) == 1 and recorded == []


def test_with_the_cache_off_every_run_runs_and_none_is_recorded(config, pipeline_runs, monkeypatch):
    calls, recorded, _ = pipeline_runs

    def no_check(config, span):
        raise AssertionError("with enable_cache false nothing stands in for a run")

    monkeypatch.setattr(local, "check_up_to_date", no_check)

    run_span(config.model_copy(update={"enable_cache": False}), 1, progress=lambda _: None)

    assert len(calls) == 1 and recorded == []


def test_a_run_that_cannot_be_recorded_still_succeeds_and_says_so(config, pipeline_runs, monkeypatch):
    calls, _, _ = pipeline_runs
    monkeypatch.setattr(local, "check_up_to_date", lambda config, span: UpToDateCheck(None, "no record"))
    monkeypatch.setattr(local, "record_complete_run", lambda *args: None)  # another run wrote meanwhile
    lines: list[str] = []

    outcome = run_span(config, 1, progress=lines.append)

    assert outcome.error is None and len(calls) == 1
    assert lines == [
        "  not recorded as up to date: another run wrote to the store meanwhile, so the next run of span 1 "
        "runs the pipeline"
    ]

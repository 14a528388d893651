"""One metadata store shared by concurrent runs: the same pipeline, config and roots, two spans
started at the same moment in two processes, as two team members (or a backfill and the daily
run) would. On MySQL/MariaDB both must complete with each model tracing to its own span; on
SQLite both complete or one fails with a "store busy" message; the store reads back consistent.

The MySQL tests need a server: LIFECYCLE_TEST_MYSQL=host:port:database:user and the password in
LIFECYCLE_MYSQL_PASSWORD (`eval "$(scripts/mysql_dev.sh start)"` starts one and prints both).
Without them they are skipped, except when LIFECYCLE_REQUIRE_MYSQL is set (.ci/run sets it),
where that is a failure.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import shutil
import subprocess
import time
import uuid
from collections import Counter
from dataclasses import dataclass

import pytest

from tests.e2e.conftest import REPO, describe

pytestmark = pytest.mark.e2e

SPANS = (1, 2)
# Short training: the store under concurrent writers is what is tested, not the model.
RUN_OVERRIDES = {
    # One span per model: with a window, what span 2 learns from would depend on whether span 1's
    # concurrent run had passed its gate yet.
    "training": {"train_steps": 100, "eval_steps": 20, "window_spans": 1},
    "evaluation": {"min_value": 0.5, "max_drop": 0.5},
}


@dataclass(frozen=True)
class ChildOutcome:
    span: int
    run_id: str
    error_type: str | None
    error: str | None
    failed_component: str | None


def _run_span_in_child(overrides: dict, span: int, start, results) -> None:
    """A separate process, as a second `lifecycle run` would be: its own TFX, Beam and store
    connection. Waits at `start` so both runs begin at the same moment."""
    from ml_lifecycle.config.project import load_config
    from ml_lifecycle.pipeline.runners.local import run_span

    config = load_config(REPO / "lifecycle.yaml", overrides)
    start.wait(timeout=300)
    outcome = run_span(config, span, progress=lambda _: None)
    error = outcome.error
    results.put(
        ChildOutcome(
            span,
            outcome.run_id,
            type(error).__name__ if error else None,
            str(error) if error else None,
            outcome.failed_component,
        )
    )


def _run_concurrently(overrides: dict) -> dict[int, ChildOutcome]:
    context = multiprocessing.get_context("spawn")  # no forked TensorFlow state
    start = context.Barrier(len(SPANS))
    results = context.Queue()
    children = [
        context.Process(target=_run_span_in_child, args=(overrides, span, start, results)) for span in SPANS
    ]
    for child in children:
        child.start()
    outcomes = []
    deadline = time.monotonic() + 900
    while len(outcomes) < len(children):
        try:
            outcomes.append(results.get(timeout=5))
        except queue.Empty:
            # A child that died without reporting (a crash, the OOM killer) fails the test now,
            # not after the deadline.
            dead = [c.exitcode for c in children if c.exitcode not in (None, 0)]
            assert not dead, f"a run process died with exit code {dead[0]} before reporting"
            assert time.monotonic() < deadline, "the concurrent runs did not finish within 15 minutes"
    for child in children:
        child.join(timeout=60)
        assert child.exitcode == 0, f"run process exited with {child.exitcode}"
    return {outcome.span: outcome for outcome in outcomes}


def _assert_store_consistent(config, outcomes: dict[int, ChildOutcome]) -> None:
    """Every execution finished (COMPLETE/CACHED) or FAILED, no event points at a missing artifact
    or execution, and each completed run holds its own artifacts, its model trained on its span."""
    from ml_lifecycle.store.connection import open_store
    from ml_lifecycle.store.queries import EXECUTION_STATES, pushed_models, training_spans

    store = open_store(config.metadata_connection_config())
    executions = store.get_executions()
    states = Counter(EXECUTION_STATES[e.last_known_state] for e in executions)
    assert set(states) <= {"COMPLETE", "CACHED", "FAILED"}, states
    artifact_ids = {a.id for a in store.get_artifacts()}
    execution_ids = {e.id for e in executions}
    events = store.get_events_by_execution_ids(list(execution_ids))
    assert events
    assert {e.artifact_id for e in events} <= artifact_ids
    assert {e.execution_id for e in store.get_events_by_artifact_ids(list(artifact_ids))} <= execution_ids

    completed = [o for o in outcomes.values() if o.error is None]
    for outcome in completed:
        report = describe(config, outcome)
        assert report.span == outcome.span
        assert {c.state for c in report.components} <= {"COMPLETE", "CACHED"}, report.components
        trainer = next(c for c in report.components if c.component_id == "trainer")
        [model] = trainer.outputs["model"]
        assert training_spans(store, model.id) == {outcome.span}
        # The run's context holds every artifact its components output (and no fewer).
        held = {a.id for a in store.get_artifacts_by_context(_run_context_id(store, outcome.run_id))}
        output = {a.id for c in report.components for records in c.outputs.values() for a in records}
        assert output and output <= held
    # Both spans' models were blessed (lenient thresholds) and pushed; the pushed models trace
    # back to their own spans through the store alone.
    assert sorted(p.span for p in pushed_models(store)) == sorted(o.span for o in completed)


def _run_context_id(store, run_id: str) -> int:
    run = store.get_context_by_type_and_name("pipeline_run", run_id)
    assert run is not None, f"no pipeline_run context {run_id}"
    return run.id


# --- SQLite: the embedded default -----------------------------------------------------------


def test_two_concurrent_runs_on_sqlite_complete_or_one_reports_store_busy(taxi_config, tmp_path):
    overrides = RUN_OVERRIDES | {"work_dir": str(tmp_path), "data_root": str(taxi_config.data_root_path)}
    from ml_lifecycle.config.project import load_config

    config = load_config(REPO / "lifecycle.yaml", overrides)

    outcomes = _run_concurrently(overrides)

    failed = [o for o in outcomes.values() if o.error is not None]
    # MLMD waits for SQLite's lock and retries aborted writes, so both usually complete; a lock
    # held past its retries must come back as StoreBusyError, never as another failure.
    assert len(failed) <= 1, failed
    for outcome in failed:
        assert outcome.error_type == "StoreBusyError", outcome
        assert "locked by another process" in outcome.error
    _assert_store_consistent(config, outcomes)


# --- MySQL / MariaDB: the shared store ------------------------------------------------------


@pytest.fixture
def mysql_database():
    """A fresh database on the configured server for one test (dropped afterwards when the
    `mariadb` client is installed): the `metadata:` config section pointing at it."""
    spec = os.environ.get("LIFECYCLE_TEST_MYSQL")
    if not spec:
        reason = (
            "no MySQL server configured: set LIFECYCLE_TEST_MYSQL=host:port:database:user and "
            'LIFECYCLE_MYSQL_PASSWORD (eval "$(scripts/mysql_dev.sh start)" does both)'
        )
        if os.environ.get("LIFECYCLE_REQUIRE_MYSQL"):
            pytest.fail(f"{reason}; LIFECYCLE_REQUIRE_MYSQL is set (.ci/run starts MariaDB)")
        pytest.skip(reason)
    host, port, database, user = spec.split(":")
    fresh = f"{database}_{uuid.uuid4().hex[:10]}"
    metadata = {"kind": "mysql", "host": host, "port": int(port), "database": fresh, "user": user}
    password = os.environ.get("LIFECYCLE_MYSQL_PASSWORD", "")  # before a test changes it
    yield metadata
    _drop_database(metadata, password)


def _drop_database(metadata: dict, password: str | None = None) -> None:
    """Drops a test database when the `mariadb` (or `mysql`) client is installed."""
    client = shutil.which("mariadb") or shutil.which("mysql")
    if not client:
        return
    subprocess.run(
        [
            client,
            "--no-defaults",
            f"--host={metadata['host']}",
            f"--port={metadata['port']}",
            f"--user={metadata['user']}",
            "-e",
            f"DROP DATABASE IF EXISTS `{metadata['database']}`",
        ],
        env=os.environ
        | {"MYSQL_PWD": os.environ.get("LIFECYCLE_MYSQL_PASSWORD", "") if password is None else password},
        check=True,
    )


@pytest.mark.mysql
def test_two_concurrent_runs_on_mysql_both_complete_with_their_own_lineage(
    taxi_config, tmp_path, mysql_database
):
    from ml_lifecycle.config.project import load_config

    overrides = RUN_OVERRIDES | {
        "work_dir": str(tmp_path),
        "data_root": str(taxi_config.data_root_path),
        "metadata": mysql_database,
    }
    config = load_config(REPO / "lifecycle.yaml", overrides)

    outcomes = _run_concurrently(overrides)

    assert [o for o in outcomes.values() if o.error] == []
    _assert_store_consistent(config, outcomes)
    assert not (tmp_path / "metadata.sqlite").exists()  # nothing fell back to the SQLite default


@pytest.mark.mysql
def test_mysql_store_errors_name_the_database_and_the_user(tmp_path, mysql_database, monkeypatch):
    from ml_lifecycle.config.project import load_config
    from ml_lifecycle.store.connection import StoreNotFoundError, StoreUnavailableError, open_store

    config = load_config(REPO / "lifecycle.yaml", {"work_dir": str(tmp_path), "metadata": mysql_database})
    name = mysql_database["database"]

    with pytest.raises(StoreNotFoundError, match=f"no database '{name}' on the server"):
        open_store(config.metadata_connection_config())

    open_store(config.metadata_connection_config(), create=True)  # what a run does first
    assert open_store(config.metadata_connection_config()).get_artifacts() == []

    monkeypatch.setenv("LIFECYCLE_MYSQL_PASSWORD", "not-the-password")
    with pytest.raises(StoreUnavailableError, match=f"refuses user '{mysql_database['user']}'"):
        open_store(config.metadata_connection_config())


def _open_store_in_child(metadata: dict, start, results) -> None:
    from ml_lifecycle.config.project import load_config
    from ml_lifecycle.store.connection import open_store

    config = load_config(REPO / "lifecycle.yaml", {"metadata": metadata})
    start.wait(timeout=120)
    try:
        open_store(config.metadata_connection_config(), create=True)
        results.put(None)
    except Exception as error:  # reported to the test, which names it
        results.put(f"{type(error).__name__}: {error}")


@pytest.mark.mysql
def test_processes_opening_one_empty_database_at_once_all_connect(mysql_database):
    """What every run does first. MLMD creates the tables on first connect; racers deadlock or see
    half the tables (before the retry, 3 in 4 such starts had a loser here)."""
    context = multiprocessing.get_context("spawn")
    for attempt in range(3):
        metadata = mysql_database | {"database": f"{mysql_database['database']}_{attempt}"}
        start = context.Barrier(4)
        results = context.Queue()
        children = [
            context.Process(target=_open_store_in_child, args=(metadata, start, results)) for _ in range(4)
        ]
        for child in children:
            child.start()
        errors = [results.get(timeout=180) for _ in children]
        for child in children:
            child.join(timeout=30)
        _drop_database(metadata)
        assert [e for e in errors if e] == [], f"attempt {attempt}"

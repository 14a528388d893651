"""Runs the pipeline for one span at a time with LocalDagRunner, printing progress per component.

LocalDagRunner runs the components in order in this process; Beam work runs on the DirectRunner
with the mode the config picks. TFX's own INFO logs go to a per-run file under work/logs/.

Before any of that, the up-to-date check (`up_to_date.py`): when the span's last complete run
still stands (same config, code, library versions, schema and span files, an untouched store,
its outputs in place), that run is the answer and nothing is imported from TensorFlow or TFX,
which is most of the ~7 s a run served wholly from TFX's cache costs. `force=True` runs anyway
(TFX's cache still serves what it can).
"""

from __future__ import annotations

import datetime
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ml_lifecycle.base.errors import LifecycleError
from ml_lifecycle.config.project import PipelineConfig
from ml_lifecycle.datasets.check import check_span
from ml_lifecycle.pipeline.runners.up_to_date import (
    check_up_to_date,
    fingerprint_parts,
    record_complete_run,
    record_path,
    store_marker,
)
from ml_lifecycle.store.connection import StoreNotFoundError, as_store_busy, open_store

Progress = Callable[[str], None]

_COMPONENT_EVENT = re.compile(r"^Component (\S+) is (running|finished)\.$")


@dataclass
class RunOutcome:
    run_id: str
    span: int
    csv_rows: int
    seconds: float
    durations: dict[str, float] = field(default_factory=dict)
    error: BaseException | None = None
    failed_component: str | None = None
    log_file: Path | None = None
    # True when nothing ran: `run_id` is the earlier complete run that still stands, `summary`
    # what `lifecycle run` printed for it (empty if it was run through the API).
    up_to_date: bool = False
    summary: list[str] = field(default_factory=list)


class _ComponentProgress(logging.Handler):
    """Turns LocalDagRunner's 'Component X is running/finished.' log lines into progress output."""

    def __init__(self, total: int, progress: Progress, durations: dict[str, float]):
        super().__init__(level=logging.INFO)
        self.total = total
        self.progress = progress
        self.durations = durations
        self.current: str | None = None
        self.started = 0.0

    def emit(self, record: logging.LogRecord) -> None:
        match = _COMPONENT_EVENT.match(record.getMessage())
        if not match:
            return
        component, event = match.groups()
        if event == "running":
            self.current, self.started = component, time.perf_counter()
        else:
            elapsed = time.perf_counter() - self.started
            self.durations[component] = elapsed
            self.current = None
            index = len(self.durations)
            self.progress(f"  [{index:2d}/{self.total}] {component:<31} {elapsed:6.1f} s")


def _new_run_id(span: int) -> str:
    return f"span-{span}-{datetime.datetime.now():%Y%m%dT%H%M%S.%f}"


def run_span(
    config: PipelineConfig, span: int, progress: Progress = print, *, force: bool = False
) -> RunOutcome:
    """Checks the span's files and the store, then runs the whole pipeline on it, unless its last
    complete run still stands (see the module docstring; `force` skips that check).

    Raises for bad input and for a store that cannot be opened (StoreUnavailableError,
    StoreBusyError, ConfigError for a missing password), before anything is written. Never
    raises for a failed component: the outcome carries the error so the caller can still report
    what happened; a store another process kept locked past MLMD's retries is a StoreBusyError.
    """
    started = time.perf_counter()
    check = check_span(config.dataset, config.data_root_path, span)
    # With TFX's cache off every run retrains and pushes: nothing stands in for it.
    if not force and config.enable_cache:
        standing = check_up_to_date(config, span)
        if standing.is_up_to_date:
            return RunOutcome(
                run_id=standing.record.run_id,
                span=span,
                csv_rows=check.rows,
                seconds=time.perf_counter() - started,
                up_to_date=True,
                summary=list(standing.record.summary),
            )
        if record_path(config, span).exists():
            progress(f"  running it again: {standing.reason}")
    # Taken before the run: a file edited, or another run written, while it runs must make the
    # next check fail.
    parts = fingerprint_parts(config, span)
    marker_before = _marker_or_empty(config)
    outcome = _run_pipeline(config, span, check.rows, progress)
    if outcome.error is None and config.enable_cache:
        _record(config, outcome, parts, marker_before, progress)
    return outcome


def _marker_or_empty(config: PipelineConfig) -> dict[str, int]:
    try:
        return store_marker(config.metadata_connection_config())
    except StoreNotFoundError:  # the first run creates the store
        return {"executions_max_id": 0}


def _record(config: PipelineConfig, outcome: RunOutcome, parts, marker_before, progress: Progress) -> None:
    """Records the complete run for the next check; a run that overlapped another, or a store
    that refuses the reads, only costs the next run its shortcut (said, never raised: the run
    itself succeeded)."""
    try:
        recorded = record_complete_run(config, outcome.span, outcome.run_id, parts, marker_before)
    except (LifecycleError, OSError, RuntimeError) as error:
        progress(
            f"  not recorded as up to date ({error}): the next run of span {outcome.span} runs the pipeline"
        )
        return
    if recorded is None:
        progress(
            f"  not recorded as up to date: another run wrote to the store meanwhile, so the next run of "
            f"span {outcome.span} runs the pipeline"
        )


def _run_pipeline(config: PipelineConfig, span: int, csv_rows: int, progress: Progress) -> RunOutcome:
    # Imported here, not at the top: an up-to-date span is answered without TensorFlow.
    import absl.logging
    from tfx.dsl.compiler import compiler, constants
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner
    from tfx.orchestration.portable import runtime_parameter_utils

    from ml_lifecycle.pipeline.pipeline import create_pipeline

    pipeline = create_pipeline(config, span, csv_rows)
    # Opened once up front, creating the store if needed: a server that is down or a wrong
    # password is then one clear error, not a stack trace from inside the first component.
    open_store(config.metadata_connection_config(), create=True)
    run_id = _new_run_id(span)
    ir = compiler.Compiler().compile(pipeline)
    runtime_parameter_utils.substitute_runtime_parameter(
        ir, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id}
    )
    outcome = RunOutcome(run_id=run_id, span=span, csv_rows=csv_rows, seconds=0.0)
    config.logs_dir.mkdir(parents=True, exist_ok=True)
    outcome.log_file = config.logs_dir / f"{run_id}.log"

    absl_logger = logging.getLogger("absl")
    file_handler = logging.FileHandler(outcome.log_file)
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    progress_handler = _ComponentProgress(len(ir.nodes), progress, outcome.durations)
    saved = (absl.logging.get_verbosity(), absl_logger.propagate)
    # Through absl, not Logger.setLevel: TensorFlow resets the level to absl's verbosity flag.
    absl.logging.set_verbosity(absl.logging.INFO)
    absl_logger.propagate = False
    absl_logger.addHandler(file_handler)
    absl_logger.addHandler(progress_handler)
    started = time.perf_counter()
    try:
        LocalDagRunner().run_with_ir(ir)
    except Exception as error:  # a failed component: recorded, reported by the caller
        busy = as_store_busy(error)
        if busy is not None:
            busy.__cause__ = error
        outcome.error = busy or error
        outcome.failed_component = progress_handler.current
        file_handler.handle(logging.LogRecord("absl", logging.ERROR, __file__, 0, repr(error), None, None))
    finally:
        outcome.seconds = time.perf_counter() - started
        absl_logger.removeHandler(file_handler)
        absl_logger.removeHandler(progress_handler)
        absl.logging.set_verbosity(saved[0])
        absl_logger.propagate = saved[1]
        file_handler.close()
    return outcome


__all__ = ["RunOutcome", "run_span"]

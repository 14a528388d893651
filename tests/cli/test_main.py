"""The CLI's contract with its handlers: the config is loaded once and handed down; only the
project's own error types become `error: ...` with exit 2; anything else is a bug and propagates."""

from __future__ import annotations

import pytest

from ml_lifecycle.base.errors import ConfigError, LifecycleError
from ml_lifecycle.cli import main as cli
from ml_lifecycle.cli import run_commands
from ml_lifecycle.config.project import PipelineConfig


@pytest.fixture
def project(make_project):
    return make_project(span=1, rows=2) / "lifecycle.yaml"


def _with_run_handler(monkeypatch, handler):
    """`lifecycle run` dispatches to `handler` (argparse stores the function at parser build)."""
    monkeypatch.setattr(run_commands, "cmd_run", handler)


def test_the_handler_gets_the_loaded_config_once(project, monkeypatch):
    seen = []
    loads = []
    real_load = cli.load_project
    monkeypatch.setattr(cli, "load_project", lambda args: loads.append(1) or real_load(args))
    _with_run_handler(monkeypatch, lambda config, args: seen.append((config, args.span)) or 0)
    assert cli.main(["--config", str(project), "run", "--span", "1"]) == 0
    assert len(loads) == 1
    [(config, span)] = seen
    assert isinstance(config, PipelineConfig) and span == 1
    assert config.dataset.name == "taxi"


def test_a_project_error_prints_one_line_and_exits_2(project, monkeypatch, capsys):
    def handler(config, args):
        raise ConfigError("lifecycle.yaml: beam.runner: not one of direct, dataflow")

    _with_run_handler(monkeypatch, handler)
    assert cli.main(["--config", str(project), "run", "--span", "1"]) == cli.EXIT_BAD_INPUT
    assert capsys.readouterr().err == "error: lifecycle.yaml: beam.runner: not one of direct, dataflow\n"


@pytest.mark.parametrize("bug", [ValueError("bad index"), KeyError("split"), TypeError("None + 1")])
def test_an_internal_bug_is_not_reported_as_bad_input(project, monkeypatch, bug):
    def handler(config, args):
        raise bug

    _with_run_handler(monkeypatch, handler)
    with pytest.raises(type(bug)):
        cli.main(["--config", str(project), "run", "--span", "1"])


@pytest.mark.parametrize("spans", ["3:1", "²:3"])  # "²".isdigit() is True, int("²") fails
def test_malformed_span_range_is_a_usage_error(project, capsys, spans):
    assert cli.main(["--config", str(project), "run", "--spans", spans]) == cli.EXIT_BAD_INPUT
    assert f"--spans {spans!r}: expected A:B" in capsys.readouterr().err


def _user_errors():
    """Every error type a command raises on user input, with the builtin base callers catch it by."""
    from ml_lifecycle.base.errors import DataError, UsageError
    from ml_lifecycle.cli.review_commands import ReviewQueueMissingError
    from ml_lifecycle.cli.serve_commands import ServerAnswerError, ServerUnreachableError
    from ml_lifecycle.datasets.check import EmptySpanError, SpanNotFoundError
    from ml_lifecycle.datasets.schema_file import SchemaLoadError
    from ml_lifecycle.metadata.client import UnknownArtifactTypeError
    from ml_lifecycle.metadata.lineage import ArtifactNotFoundError
    from ml_lifecycle.serving.inference.repository import ModelNameError, VersionNotAvailableError
    from ml_lifecycle.serving.review import (
        InvalidLabelError,
        NothingToExportError,
        ReviewItemNotFoundError,
        SpanExistsError,
    )
    from ml_lifecycle.serving.router import NoVersionToServeError, RolloutError
    from ml_lifecycle.store.connection import StoreBusyError, StoreNotFoundError, StoreUnavailableError
    from ml_lifecycle.store.queries import RunNotFoundError

    return [
        (ConfigError, ValueError),
        (DataError, ValueError),
        (UsageError, ValueError),
        (SpanNotFoundError, DataError),
        (EmptySpanError, DataError),
        (SchemaLoadError, DataError),
        (StoreBusyError, RuntimeError),
        (StoreNotFoundError, FileNotFoundError),
        (StoreUnavailableError, ConnectionError),
        (RunNotFoundError, LookupError),
        (ArtifactNotFoundError, LookupError),
        (UnknownArtifactTypeError, ValueError),
        (ServerUnreachableError, ValueError),
        (ServerAnswerError, ValueError),
        (ReviewQueueMissingError, FileNotFoundError),
        (RolloutError, ValueError),
        (NoVersionToServeError, LookupError),
        (ReviewItemNotFoundError, ValueError),
        (InvalidLabelError, ValueError),
        (NothingToExportError, ValueError),
        (SpanExistsError, ValueError),
        (ModelNameError, ValueError),
        (VersionNotAvailableError, LookupError),
    ]


def test_every_user_facing_error_is_a_project_error_and_keeps_its_builtin_base():
    for error, builtin in _user_errors():
        assert issubclass(error, LifecycleError) and issubclass(error, builtin), error

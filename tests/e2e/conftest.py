"""Fixtures for end-to-end runs: a real store, real spans, real LocalDagRunner runs (slow)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def taxi_config(tmp_path_factory):
    """The repo's taxi config in a fresh work dir, with short training and lenient change
    thresholds so two small spans reliably bless and push (the plumbing is under test here)."""
    from ml_lifecycle.config.project import load_config
    from ml_lifecycle.datasets.prepare import prepare_spans

    work = tmp_path_factory.mktemp("taxi-work")
    config = load_config(
        REPO / "lifecycle.yaml",
        {
            "work_dir": str(work),
            "training": {"train_steps": 300, "eval_steps": 50},
            "evaluation": {"min_value": 0.6, "max_drop": 0.2},
        },
    )
    prepare_spans(config.dataset, config.data_root_path)
    return config


@pytest.fixture(scope="session")
def two_span_runs(taxi_config):
    """Spans 1 and 2 run in order against one store; returns their outcomes."""
    from ml_lifecycle.pipeline.runners.local import run_span

    outcomes = [run_span(taxi_config, span, progress=lambda _: None) for span in (1, 2)]
    for outcome in outcomes:
        assert outcome.error is None, f"span {outcome.span} failed: {outcome.error}"
    return outcomes


def describe(config, outcome):
    from ml_lifecycle.metadata.client import MetadataClient

    return MetadataClient.from_config(config).run(outcome.run_id, config.component_ids)

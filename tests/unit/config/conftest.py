"""Fixtures for the config tests: the error-message pattern and a project YAML with extra sections."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]


def _error_in(path: Path, detail: str) -> str:
    return f"^{re.escape(str(path))}: .*{detail}"


@pytest.fixture
def error_in():
    """error_in(path, detail) -> a `match` pattern: the message starts with the file path and
    contains `detail` (a regex)."""
    return _error_in


@pytest.fixture
def project_yaml(tmp_path, write_yaml):
    """Factory: tmp_path/lifecycle.yaml, the repo's project YAML with top-level keys replaced by
    `sections` and the dataset pointing at the repo's taxi.yaml; returns its path."""

    def make(sections: dict) -> Path:
        data = yaml.safe_load((REPO_ROOT / "lifecycle.yaml").read_text()) | sections
        data["dataset"] = str(REPO_ROOT / "datasets" / "taxi.yaml")
        return write_yaml(tmp_path / "lifecycle.yaml", data)

    return make

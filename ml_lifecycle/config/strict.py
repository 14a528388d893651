"""Strict pydantic models and the YAML reader every config section is parsed with.

A config file's errors name the file and the field (`lifecycle.yaml: beam.runner: ...`).
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict

from ml_lifecycle.base.errors import ConfigError
from ml_lifecycle.base.text import where_not_utf8


class StrictModel(BaseModel):
    """A config section: unknown keys are errors (a typo is never ignored), values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: {where_not_utf8(path)}") from error
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the config file: {error.strerror or error}") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from error
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def parse_model(model: type[BaseModel], data: dict, path: Path):
    from pydantic import ValidationError

    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<top>'}: {e['msg']}" for e in error.errors()
        )
        raise ConfigError(f"{path}: {problems}") from error

"""The YAML reader every config file goes through: text that is not UTF-8 names file and line."""

from __future__ import annotations

import re

import pytest

from ml_lifecycle.base.errors import ConfigError, LifecycleError
from ml_lifecycle.config.strict import read_yaml


def test_non_utf8_yaml_names_the_file_and_line(tmp_path):
    path = tmp_path / "lifecycle.yaml"
    path.write_bytes("dataset: datasets/taxi.yaml\n# café\n".encode("latin-1"))

    with pytest.raises(
        ConfigError, match=rf"^{re.escape(str(path))}: line 2: byte 0xe9 is not UTF-8"
    ) as caught:
        read_yaml(path)
    assert isinstance(caught.value, LifecycleError) and isinstance(caught.value, ValueError)

"""Model names, version policy, the repository's load/fail/unload behaviour."""

from __future__ import annotations

import pytest

from ml_lifecycle.config.serving import VersionPolicyConfig
from ml_lifecycle.serving.inference.repository import (
    ModelNameError,
    ModelRepository,
    VersionNotAvailableError,
    select_versions,
    validate_model_name,
    version_directories,
)


@pytest.mark.parametrize("name", ["taxi", "taxi-v2", "my_model.1", "A9"])
def test_plain_names_are_valid(name):
    assert validate_model_name(name) == name


@pytest.mark.parametrize("name", ["", ".", "..", "../etc", "a/b", "a\\b", "taxi:predict", "tax i", "%2e%2e"])
def test_names_that_could_escape_the_serving_root_are_rejected(name):
    with pytest.raises(ModelNameError, match="invalid model name"):
        validate_model_name(name)


def test_version_policies():
    on_disk = [3, 10, 7, 1]
    assert select_versions(on_disk, VersionPolicyConfig(kind="latest", num_versions=2)) == [10, 7]
    assert select_versions(on_disk, VersionPolicyConfig(kind="all")) == [10, 7, 3, 1]
    assert select_versions(on_disk, VersionPolicyConfig(kind="specific", versions=[3, 99])) == [3]
    with pytest.raises(ValueError, match="needs a list of versions"):
        VersionPolicyConfig(kind="specific")


def _push(root, version: int, broken: bool = False):
    directory = root / "taxi" / str(version)
    directory.mkdir(parents=True)
    (directory / "saved_model.pb").write_bytes(b"broken" if broken else b"ok")
    return directory


class _Loaded:
    def __init__(self, version):
        self.version = version


def _loader(name, version, path):
    if (path / "saved_model.pb").read_bytes() == b"broken":
        raise ValueError("warmup request 3 returned NaN")
    return _Loaded(version)


def test_version_directories_ignore_non_numeric_and_unfinished(tmp_path):
    _push(tmp_path, 5)
    (tmp_path / "taxi" / "tmp-upload").mkdir()
    (tmp_path / "taxi" / "6").mkdir()  # no saved_model.pb yet
    (tmp_path / "taxi" / "²").mkdir()  # a Unicode digit, which int() refuses
    (tmp_path / "taxi" / "²" / "saved_model.pb").write_bytes(b"")
    assert list(version_directories(tmp_path / "taxi")) == [5]
    assert version_directories(tmp_path / "missing") == {}


def test_a_version_that_fails_to_load_is_marked_and_the_previous_keeps_serving(tmp_path):
    _push(tmp_path, 1)
    repository = ModelRepository(
        "taxi", tmp_path / "taxi", VersionPolicyConfig(num_versions=2), loader=_loader
    )
    assert repository.poll(wait_for_stable_files=False) == [1]
    _push(tmp_path, 2, broken=True)
    # The first scan sees version 2 still being written (it waits for two identical scans).
    assert repository.poll() == []
    assert [r.state for r in repository.statuses()] == ["AVAILABLE"]
    assert repository.poll() == []
    states = {r.version: (r.state, r.error_message) for r in repository.statuses()}
    assert states[1] == ("AVAILABLE", "")
    assert states[2][0] == "END" and "NaN" in states[2][1]
    assert repository.servable(1).version == 1
    with pytest.raises(VersionNotAvailableError, match="version 2 is in state END: ValueError"):
        repository.servable(2)
    # A failed version is not retried on every scan.
    assert repository.poll() == [] and repository.available() == [1]


def test_policy_unloads_old_versions_unless_pinned(tmp_path):
    for version in (1, 2, 3):
        _push(tmp_path, version)
    repository = ModelRepository(
        "taxi", tmp_path / "taxi", VersionPolicyConfig(num_versions=2), loader=_loader
    )
    repository.pin([1])
    repository.poll(wait_for_stable_files=False)
    assert repository.available() == [1, 2, 3]
    in_flight = repository.servable(1)
    repository.pin([None])
    repository.poll(wait_for_stable_files=False)
    assert repository.available() == [2, 3]
    assert in_flight.version == 1  # a request holding it is not cut off
    with pytest.raises(VersionNotAvailableError):
        repository.servable(1)
    # Pinned again (e.g. a rollback): loaded again.
    repository.pin([1])
    assert repository.poll(wait_for_stable_files=False) == [1]


def test_repository_rejects_a_bad_name(tmp_path):
    with pytest.raises(ModelNameError):
        ModelRepository("..", tmp_path, VersionPolicyConfig())

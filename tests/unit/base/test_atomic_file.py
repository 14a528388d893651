"""write_atomically: the target holds the old content or the new, never part, and no temporary
file is left behind when the write fails."""

from __future__ import annotations

import os

import pytest

from ml_lifecycle.base.atomic_file import write_atomically


def test_replaces_the_file_and_creates_its_directory(tmp_path):
    target = tmp_path / "state" / "taxi.json"
    write_atomically(target, "first")
    write_atomically(target, b"second", fsync=False)
    assert target.read_bytes() == b"second"
    assert [path.name for path in target.parent.iterdir()] == ["taxi.json"]


def test_a_failed_write_leaves_the_old_content_and_no_temporary_file(tmp_path, monkeypatch):
    target = tmp_path / "taxi.json"
    target.write_text("old")

    def fail(*_args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="No space left"):
        write_atomically(target, "new")
    assert target.read_text() == "old"
    assert [path.name for path in tmp_path.iterdir()] == ["taxi.json"]

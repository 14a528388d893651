"""SharedStateFile: change detection by stat, unreadable files ignored, memory-only without a path."""

from __future__ import annotations

from ml_lifecycle.serving.state_file import SharedStateFile


def test_a_write_elsewhere_is_a_change_and_reading_it_is_not(tmp_path):
    path = tmp_path / "taxi.json"
    mine, theirs = SharedStateFile(path), SharedStateFile(path)
    mine.write({"stable": 1})
    assert not mine.changed()
    with theirs.lock():
        theirs.write({"stable": 2})
    assert mine.changed()
    assert mine.read() == {"stable": 2}
    assert not mine.changed()
    mine.forget()
    assert mine.changed()


def test_unreadable_or_non_object_files_read_as_none(tmp_path):
    path = tmp_path / "taxi.json"
    path.write_text("{not json")
    assert SharedStateFile(path).read() is None
    path.write_text("[1, 2]")
    assert SharedStateFile(path).read() is None
    assert SharedStateFile(tmp_path / "missing.json").read() is None


def test_without_a_path_nothing_is_written_or_changed(tmp_path):
    memory = SharedStateFile(None)
    memory.write({"stable": 1})
    with memory.lock():
        assert memory.read() is None
    assert not memory.changed() and list(tmp_path.iterdir()) == []

"""A JSON state file several processes share: locked read-modify-writes, and change detection.

The rollout state of one model is such a file: the admin listener and the leader worker change
it, every worker follows it. `lock()` is an exclusive `flock` on a sibling `.lock` file (the state
file itself is replaced on every write, so it cannot carry the lock); `write` replaces the file
atomically; `changed()` says whether the file is other than when this process last read or
wrote it, by (mtime, size, inode), so following costs one `stat` a poll.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
from collections.abc import Iterator
from pathlib import Path

from ml_lifecycle.base.atomic_file import write_atomically

log = logging.getLogger(__name__)


class SharedStateFile:
    """One JSON object on disk; `path=None` is a state kept in memory only (nothing is read or written)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        # (mtime_ns, size, inode) of the file when last read or written here.
        self._seen: tuple[int, int, int] | None = None

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive across processes (and across threads opening it separately)."""
        if self.path is None:
            yield
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def read(self) -> dict | None:
        """The file's object; None when there is none, or it cannot be read (logged)."""
        if self.path is None or not self.path.exists():
            return None
        try:
            stamp = _stamp(self.path)
            data = json.loads(self.path.read_text())
        except (OSError, ValueError) as error:
            log.error("ignoring unreadable state file %s: %s", self.path, error)
            return None
        if not isinstance(data, dict):
            log.error("ignoring state file %s: expected a JSON object", self.path)
            return None
        self._seen = stamp
        return data

    def write(self, data: dict) -> None:
        if self.path is None:
            return
        write_atomically(self.path, json.dumps(data, indent=1))
        self._seen = _stamp(self.path)

    def changed(self) -> bool:
        """Whether the file differs from what this process last read or wrote."""
        if self.path is None:
            return False
        stamp = _stamp(self.path)
        return stamp is not None and stamp != self._seen

    def forget(self) -> None:
        """The next `changed()` is True while the file exists (to be offered it again)."""
        self._seen = None


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size, stat.st_ino

"""Whole-file writes that a reader, a crash or kill -9 never sees half done.

The content goes to a temporary file in the same directory (so the rename stays on one file
system), is flushed (and fsynced: after a power cut the file is the old one or the new one), then
renamed over the target. On any error the temporary file is removed and the target is untouched.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(path: str | Path, content: str | bytes, *, fsync: bool = True) -> Path:
    """Replaces `path` with `content` in one step; creates missing parent directories."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode("utf-8") if isinstance(content, str) else content
    handle = tempfile.NamedTemporaryFile(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    )
    try:
        with handle:
            handle.write(data)
            handle.flush()
            if fsync:
                os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return path

"""Plain text helpers shared by every reader of config, data files and requests.

Config and data files are UTF-8 text; `where_not_utf8` says where one is not. Kept free of
project and third-party imports, so light readers (the model server's schema reader) can use it.
"""

from __future__ import annotations

from pathlib import Path


def ascii_digits(text: str) -> bool:
    """A non-empty run of 0-9 and nothing else. `str.isdigit` also accepts '²', '٣' and other
    Unicode digits, which `int` then refuses: a model version `²` in a URL was answered with a
    500, a `Content-Length: ²` dropped the connection."""
    return text.isascii() and text.isdigit()


def where_not_utf8(path: Path) -> str:
    """Where a file that failed to decode stops being UTF-8 text, e.g. "line 3: byte 0xe9 is not
    UTF-8 (invalid continuation byte); save the file as UTF-8". Reads the file again as bytes: the
    decoder's own position is relative to the chunk it was given, not to the file."""
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        return (
            f"line {line}: byte {data[error.start]:#04x} is not UTF-8 ({error.reason}); "
            "save the file as UTF-8"
        )
    return "not UTF-8 text; save the file as UTF-8"

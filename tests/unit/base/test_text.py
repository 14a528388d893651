"""Where a file stops being UTF-8 text: the line is counted over the whole file."""

from __future__ import annotations

import pytest

from ml_lifecycle.base.text import ascii_digits, where_not_utf8


def test_where_not_utf8_counts_lines_across_decoder_chunks(tmp_path):
    path = tmp_path / "big.csv"
    path.write_bytes(b"a,b\n" + b"1,2\n" * 5000 + b"3,\xff\n")

    assert where_not_utf8(path).startswith("line 5002: byte 0xff is not UTF-8 (invalid start byte)")


@pytest.mark.parametrize(
    ("text", "digits"),
    [
        ("0", True),
        ("1796163050", True),
        ("²", False),
        ("٣", False),
        ("1²", False),
        ("", False),
        (" 1", False),
        ("-1", False),
        ("1.0", False),
    ],
)
def test_ascii_digits_only_accepts_0_to_9(text, digits):
    assert ascii_digits(text) is digits
    if digits:
        int(text)  # what every caller does next

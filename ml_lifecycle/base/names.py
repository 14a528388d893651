"""Internal names for columns whatever their spelling: `Body Mass (g)` -> `Body_Mass_g_1a2b3c`.

Users' columns keep their names in span files, the schema, the report, serving requests and every
error message. TF ops and signature arguments accept only `[A-Za-z0-9_.-]`-style names and make two
arguments that sanitise alike collide, so the transformed features, the Keras inputs and the raw
signature's arguments use `internal_name(column)`; the model description maps them back.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_NOT_WORD = re.compile(r"[^A-Za-z0-9]+")


def internal_name(column: str) -> str:
    """The column itself when it is already a plain identifier (so taxi's names, caches and
    models stay as they were); otherwise an ASCII identifier with a short hash of the original,
    so names that sanitise alike (`a b`, `a-b`) stay distinct."""
    if _PLAIN.fullmatch(column):
        return column
    ascii_text = unicodedata.normalize("NFKD", column).encode("ascii", "ignore").decode("ascii")
    stem = _NOT_WORD.sub("_", ascii_text).strip("_") or "column"
    if not stem[0].isalpha():
        stem = f"c_{stem}"
    digest = hashlib.sha1(column.encode("utf-8")).hexdigest()[:6]
    return f"{stem}_{digest}"

"""The span file format `CsvExampleGen` reads: `<data_root>/span-<N>/data.csv`, and its one writer.

Two producers write spans, `lifecycle data prepare` (cut from the source CSV) and `lifecycle
review export` (labelled review items); the pre-flight check and ExampleGen read them. Both
producers go through `write_span`, which writes aside and renames into place, so an interrupted
write never leaves a half-written span.
"""

from __future__ import annotations

import csv
import math
import re
import shutil
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

SPAN_FILE_NAME = "data.csv"
_INTEGER_TEXT = re.compile(r"[+-]?\d+")


def span_dir(data_root: Path, span: int) -> Path:
    return Path(data_root) / f"span-{span}"


def as_float_text(value: str) -> str:
    """'300' -> '300.0': CsvExampleGen infers each column's type per span, so a float column
    whose span happens to hold only whole numbers would otherwise arrive as INT."""
    return value + ".0" if _INTEGER_TEXT.fullmatch(value) else value


def cell(value: object, *, nan_is_missing: bool = True) -> object:
    """One feature's value as a span CSV cell would hold it: [x] -> x (a tf.Example feature and
    the raw signature's [batch, 1] inputs wrap each value in a list); [] / None / NaN / "" / b""
    -> None (missing); several values stay a list. `nan_is_missing=False` keeps a NaN as it is."""
    while isinstance(value, list):
        if len(value) != 1:
            return value or None
        value = value[0]
    if nan_is_missing and isinstance(value, float) and math.isnan(value):
        return None
    if value == "" or value == b"":
        return None
    return value


def write_csv_rows(path: Path, header: list[str], rows: Iterable[list[str]]) -> None:
    """A span CSV of text cells, quoted and terminated as pandas writes them in `prepare`."""
    with Path(path).open("w", encoding="utf-8", newline="") as handle:
        # "\n" as pandas writes; csv's default is "\r\n".
        writer = csv.writer(handle, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def write_span(
    data_root: Path,
    span: int,
    write_csv: Callable[[Path], None],
    *,
    staging_name: str,
    extra_files: Mapping[str, str] | None = None,
) -> Path:
    """Writes span `span` under `data_root`, replacing any span already there: `write_csv` writes
    the span file at the path it is given, inside `data_root/<staging_name>`, which is then renamed
    to `span-<span>`. Returns the span file's final path."""
    data_root = Path(data_root)
    data_root.mkdir(parents=True, exist_ok=True)
    staging = data_root / staging_name
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    write_csv(staging / SPAN_FILE_NAME)
    for name, text in (extra_files or {}).items():
        (staging / name).write_text(text, encoding="utf-8")
    final = span_dir(data_root, span)
    if final.exists():
        shutil.rmtree(final)
    staging.rename(final)
    return final / SPAN_FILE_NAME

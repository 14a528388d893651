"""The review queue's labelled items written as a span the pipeline ingests (`lifecycle review
export`): the columns and value formats `lifecycle data prepare` writes, each item in one span only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from ml_lifecycle.base.contracts import Task
from ml_lifecycle.base.errors import DataError, UsageError
from ml_lifecycle.config.dataset import DatasetConfig
from ml_lifecycle.datasets.schema_file import known_label_classes
from ml_lifecycle.datasets.span_files import as_float_text, cell, span_dir, write_csv_rows, write_span
from ml_lifecycle.serving.review import NothingToExportError, ReviewItem, ReviewQueue, SpanExistsError


@dataclass(frozen=True)
class SpanExport:
    """What `export_span` wrote: the span's CSV file and how many items (rows) it holds."""

    path: Path
    rows: int


def export_span(
    queue: ReviewQueue, dataset: DatasetConfig, data_root: Path, span: int, *, force: bool = False
) -> SpanExport:
    """Writes the labelled items not exported yet to `data_root/span-<span>/data.csv`, with the
    columns and value formats `lifecycle data prepare` writes (so `check_span` and
    `lifecycle run --span <span>` accept it), and marks them exported. Refuses to replace an
    existing span unless `force`; a forced re-export of the same span includes its items again.
    A multiclass label must be one of the dataset's classes (`datasets.schema_file.known_label_classes`)."""
    if span < 1:
        raise UsageError(f"--span {span}: spans are numbered from 1")
    final = span_dir(data_root, span)
    if final.exists() and not force:
        raise SpanExistsError(f"span {span}: {final} already exists; pass --force to replace it")
    items = queue.items_for_export(span)
    if not items:
        raise NothingToExportError(
            f"no labelled review items to export (pending: {queue.counts()['pending']}); "
            "label some with `lifecycle review label ID LABEL`"
        )
    classes = known_label_classes(dataset)
    rows = [span_row(item, dataset, classes) for item in items]
    path = write_span(
        data_root,
        span,
        partial(write_csv_rows, header=dataset.span_columns, rows=rows),
        staging_name=f".staging-review-span-{span}",
    )
    queue.mark_exported([item.id for item in items], span)
    return SpanExport(path, len(rows))


def span_row(item: ReviewItem, dataset: DatasetConfig, classes: Sequence[str] = ()) -> list[str]:
    """One review item as a span CSV row (features in config order, then the label), as text;
    a multiclass label must be one of `classes` when they are given."""
    features = dataset.features
    row = []
    for name in features.all_names():
        # NaN kept: the server queues no NaN now (its JSON has none, a tf.Example's NaN decodes
        # as missing), but a queue written by an earlier server may hold one; export treats it
        # as it always has.
        value = cell(item.features.get(name), nan_is_missing=False)
        if value is None:
            row.append("")
        elif name in features.numeric or name in features.bucketized:
            row.append(as_float_text(_number_text(item, name, value, float)))
        elif name in features.categorical_int:
            row.append(_number_text(item, name, value, int))
        else:
            row.append(str(value))
    row.append(_label_text(item, dataset, classes))
    return row


def _label_text(item: ReviewItem, dataset: DatasetConfig, classes: Sequence[str]) -> str:
    """The label cell as `lifecycle data prepare` writes it: 0/1, the class, a float's text."""
    label = dataset.label
    if item.task is not label.task:
        raise DataError(
            f"review item {item.id}: a {item.task.value} prediction (model {item.model!r} version "
            f"{item.version}) cannot be a row of dataset {dataset.name!r}, whose label "
            f"{label.name!r} is {label.task.value}"
        )
    if item.task is Task.MULTICLASS:
        if classes and str(item.label) not in classes:
            raise DataError(
                f"review item {item.id}: label {item.label!r} is not one of the classes of "
                f"{label.name!r}: {list(classes)}"
            )
        return str(item.label)
    if item.task is Task.REGRESSION:
        return as_float_text(repr(float(item.label)))
    return str(int(item.label))


def _number_text(item: ReviewItem, name: str, value: object, kind: type) -> str:
    try:
        number = kind(float(value)) if kind is int else float(value)
        if kind is int and float(value) != number:
            raise ValueError
    except (TypeError, ValueError) as error:
        expected = "an integer" if kind is int else "a number"
        raise DataError(
            f"review item {item.id}: feature {name!r} expected {expected}, "
            f"got {value!r} (the request carried a value the dataset cannot hold)"
        ) from error
    return repr(number) if kind is float else str(number)

"""`lifecycle review list | label ID LABEL | export --span N [--force]`: the human review queue.

The server queues predictions for review (`serving.review.automation`); a person labels them
here and exports the labelled ones as a span that `lifecycle run --span N` trains on. What a
label is follows the model's task: 0 or 1 (binary), one of the dataset's classes (multiclass),
a number (regression).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import TYPE_CHECKING

from ml_lifecycle.base.contracts import Task
from ml_lifecycle.base.errors import LifecycleError

if TYPE_CHECKING:
    from ml_lifecycle.config.project import PipelineConfig
    from ml_lifecycle.serving.review import ReviewItem


class ReviewQueueMissingError(LifecycleError, FileNotFoundError):
    """The configured review queue does not exist yet."""


_LABEL_HELP = (
    "the item's true answer, as its task's label: 0 or 1 (binary), one of the dataset's classes "
    "(multiclass: label.classes, else the curated schema's), a number (regression)"
)


def register(commands) -> None:
    """Adds `lifecycle review ...` to the `lifecycle` parser."""
    review = commands.add_parser("review", help="human review queue: list, label, export as a span")
    actions = review.add_subparsers(dest="action", required=True)

    listing = actions.add_parser("list", help="items waiting for a label (oldest first)")
    listing.add_argument("--limit", type=int, default=20, help="at most this many items (default 20)")
    listing.add_argument("--labelled", action="store_true", help="list labelled items instead")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(handler=cmd_review_list)

    label = actions.add_parser(
        "label", help="set an item's label: 0/1 (binary), a class (multiclass), a number (regression)"
    )
    label.add_argument("id", type=int, help="item id (from `lifecycle review list`)")
    label.add_argument("label", help=_LABEL_HELP)
    label.set_defaults(handler=cmd_review_label)

    export = actions.add_parser("export", help="write the labelled items as span N for the pipeline")
    export.add_argument("--span", type=int, required=True, help="span number to write")
    export.add_argument("--force", action="store_true", help="replace span N if it exists")
    export.set_defaults(handler=cmd_review_export)


def _queue(config):
    from ml_lifecycle.serving.review import ReviewQueue

    path = config.serving.review.resolve_queue_path(config.work_dir)
    if not path.exists():
        raise ReviewQueueMissingError(
            f"no review queue at {path} (serving.review.queue_path): nothing has been queued yet; "
            "the server queues predictions when serving.review.automation is assist or partial"
        )
    return ReviewQueue(path)


def prediction_text(item: ReviewItem) -> str:
    """What the model answered, as its task reads: `score 0.550` (binary P(class 1)),
    `predicted Gentoo (p 0.57)` (multiclass), `predicted 2,610` (regression)."""
    if item.task is Task.MULTICLASS:
        return f"predicted {item.top_class} (p {item.score:.2f})"
    if item.task is Task.REGRESSION:
        return f"predicted {item.score:,.6g}"
    return f"score {item.score:.3f}"


def cmd_review_list(config: PipelineConfig, args: argparse.Namespace) -> int:
    queue = _queue(config)
    items = queue.labelled()[: args.limit] if args.labelled else queue.pending(args.limit)
    if args.json:
        for item in items:
            print(json.dumps(item.to_json(), sort_keys=True))
        return 0
    counts = queue.counts()
    print(
        f"review queue {queue.path}: {counts['pending']} pending, {counts['labelled']} labelled "
        f"(not exported), {counts['exported']} exported"
    )
    for item in items:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(item.created_s))
        state = "deferred" if item.deferred else "flagged"
        label = "" if item.label is None else f"  label {item.label}"
        exported = "" if item.exported_span is None else f"  in span {item.exported_span}"
        features = ", ".join(f"{name}={value!r}" for name, value in sorted(item.features.items()))
        print(
            f"{item.id:>6}  {when}  {item.model} v{item.version}  {item.task.value}  "
            f"{prediction_text(item)}  {state}{label}{exported}\n        {features}"
        )
    return 0


def cmd_review_label(config: PipelineConfig, args: argparse.Namespace) -> int:
    from ml_lifecycle.datasets.schema_file import known_label_classes

    item = _queue(config).label(args.id, args.label, known_label_classes(config.dataset))
    print(f"item {item.id}: label {item.label} (model {prediction_text(item)})")
    return 0


def cmd_review_export(config: PipelineConfig, args: argparse.Namespace) -> int:
    from ml_lifecycle.serving.review_export import export_span

    queue = _queue(config)
    exported = export_span(queue, config.dataset, config.data_root_path, args.span, force=args.force)
    print(f"wrote span {args.span}: {exported.rows} labelled rows -> {exported.path}")
    print(f"  train on it with `lifecycle run --span {args.span}`")
    return 0

"""Human review: the automation modes, the durable SQLite queue, and its export as a span that
passes the pipeline's pre-flight check with the columns `lifecycle data prepare` writes."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ml_lifecycle.base.errors import DataError
from ml_lifecycle.config.serving import HumanReviewConfig
from ml_lifecycle.datasets.check import check_span
from ml_lifecycle.datasets.prepare import prepare_spans
from ml_lifecycle.serving.review import (
    InvalidLabelError,
    NothingToExportError,
    ReviewDecision,
    ReviewItemNotFoundError,
    ReviewQueue,
    SpanExistsError,
    decide,
    export_span,
)

REPO = Path(__file__).resolve().parents[3]
# Typed as a JSON client sends them (the tiny dataset: fare numeric, lat bucketized, hour
# categorical int, payment categorical string).
FEATURES = {"fare": 10, "lat": 41.9, "hour": 5, "payment": "Cash"}


@pytest.mark.parametrize(
    "automation, score, expected",
    [
        ("full", 0.5, ReviewDecision(deferred=False, flagged=False)),
        ("assist", 0.99, ReviewDecision(deferred=False, flagged=True)),
        ("partial", 0.4, ReviewDecision(deferred=True, flagged=True)),  # band edges are inside
        ("partial", 0.6, ReviewDecision(deferred=True, flagged=True)),
        ("partial", 0.39, ReviewDecision(deferred=False, flagged=False)),
        ("partial", 0.61, ReviewDecision(deferred=False, flagged=False)),
    ],
)
def test_decide_follows_the_automation_degree(automation, score, expected):
    config = HumanReviewConfig(automation=automation, defer_low=0.4, defer_high=0.6)
    assert decide(score, config) == expected


def test_items_are_queued_labelled_and_survive_a_reopen(tmp_path):
    path = tmp_path / "review" / "queue.sqlite"
    queue = ReviewQueue(path)
    first = queue.add("taxi", 7, FEATURES, 0.55, deferred=True)
    second = queue.add("taxi", 7, {**FEATURES, "payment": None}, 0.9, deferred=False)
    assert [item.id for item in queue.pending(10)] == [first, second]
    assert queue.get(first).features == FEATURES
    assert queue.get(first).deferred is True

    labelled = queue.label(first, "1")
    assert labelled.label == 1 and labelled.labelled_s is not None
    queue.close()

    reopened = ReviewQueue(path)
    assert [item.id for item in reopened.pending(10)] == [second]
    assert [item.id for item in reopened.labelled()] == [first]
    assert reopened.counts() == {"pending": 1, "labelled": 1, "exported": 0}
    with pytest.raises(InvalidLabelError, match="expected 0 or 1"):
        reopened.label(second, "yes")
    with pytest.raises(ReviewItemNotFoundError, match="review item 99"):
        reopened.label(99, 0)
    with pytest.raises(ReviewItemNotFoundError):
        reopened.get(99)


def test_threads_and_another_process_add_to_one_queue(tmp_path):
    path = tmp_path / "queue.sqlite"
    queue = ReviewQueue(path)
    other_process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from ml_lifecycle.serving.review import ReviewQueue; q = ReviewQueue(sys.argv[1]);"
            "[q.add('taxi', 2, {'fare': i}, 0.5, True) for i in range(100)]",
            str(path),
        ],
        cwd=REPO,
    )

    def add_many():
        for index in range(50):
            queue.add("taxi", 1, {"fare": index}, 0.5, deferred=True)

    threads = [threading.Thread(target=add_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert other_process.wait(timeout=120) == 0
    items = queue.pending(1000)
    assert len(items) == 300
    assert len({item.id for item in items}) == 300
    assert sum(item.version == 2 for item in items) == 100


def test_export_writes_the_columns_and_formats_prepare_writes(tmp_path, tiny_dataset_config, tiny_source_csv):
    tiny_source_csv()
    config = tiny_dataset_config()
    prepared_root = tmp_path / "prepared"
    prepare_spans(config, prepared_root)
    prepared_lines = (prepared_root / "span-1" / "data.csv").read_bytes().split(b"\n")

    queue = ReviewQueue(tmp_path / "queue.sqlite")
    # The first source row as a JSON client sends it, labelled as its tip says (3 > 0.2 * 10).
    queue.label(queue.add("tiny", 1, FEATURES, 0.7, deferred=True), 1)
    queue.label(queue.add("tiny", 1, {"fare": [300], "lat": None, "hour": [23], "payment": ""}, 0.2, True), 0)
    queue.add("tiny", 1, FEATURES, 0.5, deferred=True)  # not labelled: not exported

    data_root = tmp_path / "data"
    path = export_span(queue, config, data_root, span=6)
    assert path == data_root / "span-6" / "data.csv"
    header, first, second, end = path.read_bytes().split(b"\n")
    assert header == prepared_lines[0] == ",".join(config.span_columns).encode()
    assert first == prepared_lines[1] == b"10.0,41.9,5,Cash,1"
    assert (second, end) == (b"300.0,,23,,0", b"")
    assert check_span(config, data_root, 6).rows == 2
    assert queue.counts() == {"pending": 1, "labelled": 0, "exported": 2}


def test_export_refuses_to_overwrite_and_does_not_repeat_items(tmp_path, tiny_dataset_config):
    config = tiny_dataset_config()
    queue = ReviewQueue(tmp_path / "queue.sqlite")
    data_root = tmp_path / "data"
    with pytest.raises(NothingToExportError, match="no labelled review items"):
        export_span(queue, config, data_root, span=3)
    queue.label(queue.add("tiny", 1, FEATURES, 0.5, deferred=True), 0)
    export_span(queue, config, data_root, span=3)

    with pytest.raises(SpanExistsError, match="span 3: .*span-3 already exists; pass --force"):
        export_span(queue, config, data_root, span=3)
    queue.label(queue.add("tiny", 1, {**FEATURES, "hour": 6}, 0.5, deferred=True), 1)
    # Forced re-export of span 3: its own items again plus the new one.
    path = export_span(queue, config, data_root, span=3, force=True)
    assert len(path.read_text().splitlines()) == 3
    # Everything labelled is in span 3 now: a new span has nothing to take.
    with pytest.raises(NothingToExportError):
        export_span(queue, config, data_root, span=4)
    assert not (data_root / "span-4").exists()


def test_a_value_the_dataset_cannot_hold_names_the_item_and_writes_nothing(tmp_path, tiny_dataset_config):
    config = tiny_dataset_config()
    queue = ReviewQueue(tmp_path / "queue.sqlite")
    item = queue.add("tiny", 1, {**FEATURES, "hour": "noon"}, 0.5, deferred=True)
    queue.label(item, 1)
    with pytest.raises(
        DataError, match=f"review item {item}: feature 'hour' expected an integer, got 'noon'"
    ):
        export_span(queue, config, tmp_path / "data", span=2)
    assert not (tmp_path / "data" / "span-2").exists()


def test_a_nan_an_earlier_server_queued_exports_as_before(tmp_path, tiny_dataset_config):
    # Servers before the one codec queued a tf.Example's NaN as NaN (JSON `NaN` in the queue).
    config = tiny_dataset_config()
    queue = ReviewQueue(tmp_path / "queue.sqlite")
    queue.label(queue.add("tiny", 1, {**FEATURES, "fare": [float("nan")]}, 0.5, deferred=True), 1)
    path = export_span(queue, config, tmp_path / "data", span=2)
    assert path.read_bytes().split(b"\n")[1] == b"nan,41.9,5,Cash,1"

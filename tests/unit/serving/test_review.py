"""Human review: the automation modes, the durable SQLite queue, and its export as a span that
passes the pipeline's pre-flight check with the columns `lifecycle data prepare` writes."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ml_lifecycle.base.contracts import Task
from ml_lifecycle.base.errors import DataError
from ml_lifecycle.config.serving import HumanReviewConfig
from ml_lifecycle.datasets.check import check_span
from ml_lifecycle.datasets.prepare import prepare_spans
from ml_lifecycle.datasets.schema_file import known_label_classes
from ml_lifecycle.serving.inference.answers import ModelAnswer
from ml_lifecycle.serving.review import (
    MAX_LABEL_CHARS,
    InvalidLabelError,
    NothingToExportError,
    ReviewItemNotFoundError,
    ReviewQueue,
    SpanExistsError,
)
from ml_lifecycle.serving.review_export import export_span
from ml_lifecycle.serving.review_rule import ReviewDecision, decide, review_marks

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
    exported = export_span(queue, config, data_root, span=6)
    path = exported.path
    assert (path, exported.rows) == (data_root / "span-6" / "data.csv", 2)
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
    exported = export_span(queue, config, data_root, span=3, force=True)
    assert exported.rows == 2 and len(exported.path.read_text().splitlines()) == 3
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
    path = export_span(queue, config, tmp_path / "data", span=2).path
    assert path.read_bytes().split(b"\n")[1] == b"nan,41.9,5,Cash,1"


# -- per task ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config, task, score, deferred",
    [
        # Multiclass: the top class's probability below min_confidence.
        (HumanReviewConfig(automation="partial", min_confidence=0.6), Task.MULTICLASS, 0.59, True),
        (HumanReviewConfig(automation="partial", min_confidence=0.6), Task.MULTICLASS, 0.6, False),
        # The binary band does not apply to a multiclass model's confidence.
        (HumanReviewConfig(automation="partial", min_confidence=0.3), Task.MULTICLASS, 0.5, False),
        # Regression: inside the value band (edges inside) ...
        (HumanReviewConfig(automation="partial", value_band=(10, 20)), Task.REGRESSION, 10.0, True),
        (HumanReviewConfig(automation="partial", value_band=(10, 20)), Task.REGRESSION, 20.0, True),
        (HumanReviewConfig(automation="partial", value_band=(10, 20)), Task.REGRESSION, 20.5, False),
        # ... and without a band, nothing; a value of 0.5 is not a binary score.
        (HumanReviewConfig(automation="partial"), Task.REGRESSION, 0.5, False),
        (HumanReviewConfig(automation="assist"), Task.REGRESSION, 0.5, False),
    ],
)
def test_partial_automation_defers_by_the_task(config, task, score, deferred):
    decision = decide(score, config, task)
    assert decision.deferred is deferred
    assert decision.flagged is (deferred or config.automation == "assist")


def test_review_marks_follow_the_answer_task():
    config = HumanReviewConfig(automation="partial", defer_low=0.4, defer_high=0.6, min_confidence=0.5)
    multiclass = ModelAnswer.of(Task.MULTICLASS, [[0.45, 0.35, 0.2], [0.1, 0.1, 0.8]], ("a", "b", "c"))
    assert review_marks(multiclass, config)["deferred"] == [True, False]
    binary = ModelAnswer.of(Task.BINARY, [0.45, 0.9])
    assert review_marks(binary, config) == {"deferred": [True, False], "flagged": [True, False]}
    assert review_marks(binary, HumanReviewConfig(automation="full")) is None


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"min_confidence": 1.5}, "min_confidence"),
        ({"value_band": [3, 1]}, "low <= high"),
        ({"value_band": [1]}, "value_band"),
    ],
)
def test_the_review_config_checks_the_new_fields(changes, message):
    with pytest.raises(ValueError, match=message):
        HumanReviewConfig(**changes)


def test_items_record_their_task_and_labels_follow_it(tmp_path):
    queue = ReviewQueue(tmp_path / "queue.sqlite")
    species = queue.add("penguins", 3, {"Body Mass (g)": 4200}, 0.55, True, Task.MULTICLASS, "Gentoo")
    mass = queue.add("penguins-mass", 1, {"island": "Dream"}, 4150.0, True, Task.REGRESSION)
    item = queue.get(species)
    assert (item.task, item.top_class, item.top_probability) == (Task.MULTICLASS, "Gentoo", 0.55)
    assert item.to_json()["top_class"] == "Gentoo" and item.to_json()["task"] == "multiclass"
    # A class is stored as written, even when it reads like a number.
    assert queue.label(species, " 3.0 ").label == "3.0"
    assert queue.label(species, "007").label == "007"
    assert queue.label(mass, "4200.5").label == 4200.5
    assert queue.get(mass).top_probability is None
    with pytest.raises(InvalidLabelError, match="expected a number"):
        queue.label(mass, "heavy")
    with pytest.raises(InvalidLabelError, match="expected a class"):
        queue.label(species, " ")
    binary = queue.add("taxi", 1, FEATURES, 0.5, True)
    assert queue.get(binary).task is Task.BINARY
    with pytest.raises(InvalidLabelError, match="expected 0 or 1"):
        queue.label(binary, "2")


def test_a_queue_written_before_the_task_columns_reads_as_binary(tmp_path):
    import sqlite3

    path = tmp_path / "queue.sqlite"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE review_items (id INTEGER PRIMARY KEY AUTOINCREMENT, created_s REAL NOT NULL, "
        "model TEXT NOT NULL, version INTEGER NOT NULL, features TEXT NOT NULL, score REAL NOT NULL, "
        "deferred INTEGER NOT NULL, label INTEGER, labelled_s REAL, exported_span INTEGER);"
        "INSERT INTO review_items (created_s, model, version, features, score, deferred, label) "
        "VALUES (1.0, 'taxi', 4, '{\"fare\": 10}', 0.45, 1, 1);"
    )
    old.close()
    queue = ReviewQueue(path)
    (item,) = queue.labelled()
    assert (item.task, item.top_class, item.label, item.score) == (Task.BINARY, None, 1, 0.45)
    added = queue.add("penguins", 1, {}, 0.5, True, Task.MULTICLASS, "Adelie")
    assert queue.get(added).top_class == "Adelie"
    ReviewQueue(path)  # opening it again adds nothing twice


def test_export_writes_each_task_label_and_refuses_what_the_dataset_cannot_hold(
    tmp_path, tiny_dataset_config
):
    multiclass = tiny_dataset_config(
        label={"name": "species", "task": "multiclass", "classes": ["Adelie", "Gentoo"]}
    )
    queue = ReviewQueue(tmp_path / "queue.sqlite")
    queue.label(queue.add("tiny", 1, FEATURES, 0.5, True, Task.MULTICLASS, "Adelie"), "Gentoo")
    path = export_span(queue, multiclass, tmp_path / "data", span=1).path
    assert path.read_text().splitlines() == ["fare,lat,hour,payment,species", "10.0,41.9,5,Cash,Gentoo"]

    other = ReviewQueue(tmp_path / "other.sqlite")
    item = other.label(other.add("tiny", 1, FEATURES, 0.5, True, Task.MULTICLASS, "Adelie"), "Chinstrap").id
    with pytest.raises(DataError, match=f"review item {item}: label 'Chinstrap' is not one of the classes"):
        export_span(other, multiclass, tmp_path / "data", span=2)

    regression = tiny_dataset_config(label={"name": "tip", "task": "regression"})
    values = ReviewQueue(tmp_path / "values.sqlite")
    values.label(values.add("tiny", 1, FEATURES, 2.5, True, Task.REGRESSION), "3")
    path = export_span(values, regression, tmp_path / "data", span=3).path
    assert path.read_text().splitlines()[1] == "10.0,41.9,5,Cash,3.0"
    # A regression item is not a row of a binary dataset.
    with pytest.raises(DataError, match="a regression prediction .* cannot be a row of dataset 'tiny'"):
        export_span(values, tiny_dataset_config(), tmp_path / "data", span=3, force=True)


SPECIES = ("Adelie", "Chinstrap", "Gentoo")


def _schema_with_classes(path: Path, label: str, classes: tuple[str, ...]) -> Path:
    """A curated schema as `lifecycle schema bootstrap` records a multiclass label's classes."""
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    from ml_lifecycle.datasets.schema_file import record_label_classes

    schema = schema_pb2.Schema()
    record_label_classes(schema, label, list(classes))
    path.write_text(text_format.MessageToString(schema), encoding="utf-8")
    return path


def test_a_multiclass_label_must_be_one_of_the_classes_given(tmp_path):
    queue = ReviewQueue(tmp_path / "queue.sqlite")
    item = queue.add("penguins", 1, {}, 0.5, True, Task.MULTICLASS, "Adelie")
    with pytest.raises(InvalidLabelError) as refused:
        queue.label(item, "Emperor", SPECIES)
    assert str(refused.value) == (
        "label 'Emperor' is not a class of the dataset; one of ['Adelie', 'Chinstrap', 'Gentoo']"
    )
    assert queue.get(item).label is None  # nothing stored
    assert queue.label(item, " Gentoo ", SPECIES).label == "Gentoo"
    # Without known classes any non-empty text is a class, up to the length cap.
    assert queue.label(item, "x" * MAX_LABEL_CHARS).label == "x" * MAX_LABEL_CHARS
    with pytest.raises(InvalidLabelError, match=f"{MAX_LABEL_CHARS + 1} characters; a label has at most"):
        queue.label(item, "x" * (MAX_LABEL_CHARS + 1))


def test_the_classes_are_the_dataset_yaml_else_the_curated_schema(tmp_path, tiny_dataset_config):
    fixed = tiny_dataset_config(label={"name": "species", "task": "multiclass", "classes": ["b", "a"]})
    assert known_label_classes(fixed) == ("b", "a")
    _schema_with_classes(tmp_path / "schema.pbtxt", "species", SPECIES)
    from_schema = tiny_dataset_config(label={"name": "species", "task": "multiclass"}, schema="schema.pbtxt")
    assert known_label_classes(from_schema) == SPECIES
    not_bootstrapped = tiny_dataset_config(
        label={"name": "species", "task": "multiclass"}, schema="none.pbtxt"
    )
    assert known_label_classes(not_bootstrapped) == ()
    assert known_label_classes(tiny_dataset_config(schema="schema.pbtxt")) == ()  # a binary label


def test_export_checks_the_classes_the_schema_records(tmp_path, tiny_dataset_config):
    _schema_with_classes(tmp_path / "schema.pbtxt", "species", SPECIES)
    dataset = tiny_dataset_config(label={"name": "species", "task": "multiclass"}, schema="schema.pbtxt")
    queue = ReviewQueue(tmp_path / "queue.sqlite")
    # Labelled before the classes were checked on labelling (or by a queue written earlier).
    item = queue.label(queue.add("tiny", 1, FEATURES, 0.5, True, Task.MULTICLASS, "Adelie"), "Emperor").id
    with pytest.raises(DataError, match=f"review item {item}: label 'Emperor' is not one of the classes"):
        export_span(queue, dataset, tmp_path / "data", span=1)
    assert not (tmp_path / "data" / "span-1").exists()

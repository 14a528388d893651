"""`lifecycle review list | label | export`: the queue the server fills, labelled and exported as a span."""

from __future__ import annotations

import json

import pytest

from ml_lifecycle.base.contracts import Task
from ml_lifecycle.cli.main import EXIT_BAD_INPUT, main
from ml_lifecycle.datasets.check import check_span
from ml_lifecycle.serving.review import ReviewQueue

FEATURES = {"fare": 10, "lat": 41.9, "hour": 5, "payment": "Cash"}


@pytest.fixture
def project(tmp_path, tiny_dataset_yaml, write_yaml):
    """A project YAML over the tiny dataset; its review queue holds two pending items."""
    tiny_dataset_yaml()
    config = write_yaml(tmp_path / "lifecycle.yaml", {"dataset": "tiny.yaml", "work_dir": "work"})
    queue = ReviewQueue(tmp_path / "work" / "review" / "queue.sqlite")
    ids = [
        queue.add("tiny", 3, FEATURES, 0.55, deferred=True),
        queue.add("tiny", 3, {**FEATURES, "payment": "Credit Card"}, 0.45, deferred=True),
    ]
    return config, ids


def _lifecycle(config, capsys, *args):
    code = main(["--config", str(config), "review", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_list_label_export_then_the_span_passes_the_preflight_check(project, capsys, tiny_dataset_config):
    config, (first, second) = project
    code, out, _ = _lifecycle(config, capsys, "list")
    assert code == 0
    assert "2 pending, 0 labelled (not exported), 0 exported" in out
    assert "score 0.550  deferred" in out and "payment='Credit Card'" in out

    assert _lifecycle(config, capsys, "label", str(first), "1")[:2] == (
        0,
        f"item {first}: label 1 (model score 0.550)\n",
    )
    code, out, _ = _lifecycle(config, capsys, "list", "--labelled", "--json")
    assert code == 0
    assert [json.loads(line)["id"] for line in out.splitlines()] == [first]

    code, out, _ = _lifecycle(config, capsys, "export", "--span", "4")
    assert code == 0
    assert "wrote span 4: 1 labelled rows" in out
    data_root = config.parent / "work" / "data" / "tiny"
    assert check_span(tiny_dataset_config(), data_root, 4).rows == 1


def test_user_errors_exit_2_with_one_line(project, capsys):
    config, (first, _) = project
    code, _, err = _lifecycle(config, capsys, "label", "999", "1")
    assert (code, err.strip()) == (
        EXIT_BAD_INPUT,
        f"error: review item 999: no such item in {config.parent}/work/review/queue.sqlite",
    )
    code, _, err = _lifecycle(config, capsys, "label", str(first), "maybe")
    assert code == EXIT_BAD_INPUT and "label 'maybe': expected 0 or 1" in err
    code, _, err = _lifecycle(config, capsys, "export", "--span", "2")
    assert code == EXIT_BAD_INPUT and "no labelled review items to export (pending: 2)" in err

    _lifecycle(config, capsys, "label", str(first), "0")
    assert _lifecycle(config, capsys, "export", "--span", "2")[0] == 0
    code, _, err = _lifecycle(config, capsys, "export", "--span", "2")
    assert code == EXIT_BAD_INPUT and "already exists; pass --force" in err
    assert _lifecycle(config, capsys, "export", "--span", "2", "--force")[0] == 0


def test_no_queue_yet_says_where_it_looked(tmp_path, tiny_dataset_yaml, write_yaml, capsys):
    tiny_dataset_yaml()
    config = write_yaml(tmp_path / "lifecycle.yaml", {"dataset": "tiny.yaml", "work_dir": "work"})
    code, _, err = _lifecycle(config, capsys, "list")
    assert code == EXIT_BAD_INPUT
    assert f"no review queue at {tmp_path}/work/review/queue.sqlite" in err
    assert not (tmp_path / "work" / "review").exists()  # looking does not create it


def test_label_help_says_what_a_label_is_per_task(project, capsys):
    config, _ = project
    with pytest.raises(SystemExit) as exited:
        main(["--config", str(config), "review", "label", "--help"])
    assert exited.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps the help
    for meaning in ("0 or 1 (binary)", "one of the dataset's classes", "a number (regression)"):
        assert meaning in text


def test_list_shows_each_items_task_and_prediction(project, capsys):
    config, _ = project
    queue = ReviewQueue(config.parent / "work" / "review" / "queue.sqlite")
    queue.add("penguins", 2, {"island": "Dream"}, 0.5712, True, Task.MULTICLASS, "Gentoo")
    queue.add("penguins-mass", 1, {"island": "Dream"}, 2610.25, False, Task.REGRESSION)
    code, out, _ = _lifecycle(config, capsys, "list")
    assert code == 0
    assert "tiny v3  binary  score 0.550  deferred" in out
    assert "penguins v2  multiclass  predicted Gentoo (p 0.57)  deferred" in out
    assert "penguins-mass v1  regression  predicted 2,610.25  flagged" in out


def _multiclass_project(tmp_path, tiny_dataset_yaml, write_yaml, **label):
    tiny_dataset_yaml(label={"name": "species", "task": "multiclass", **label}, schema="schema.pbtxt")
    config = write_yaml(tmp_path / "lifecycle.yaml", {"dataset": "tiny.yaml", "work_dir": "work"})
    queue = ReviewQueue(tmp_path / "work" / "review" / "queue.sqlite")
    return config, queue.add("tiny", 1, FEATURES, 0.5, True, Task.MULTICLASS, "Adelie")


def test_a_multiclass_label_must_be_a_class_of_the_dataset(tmp_path, tiny_dataset_yaml, write_yaml, capsys):
    config, item = _multiclass_project(tmp_path, tiny_dataset_yaml, write_yaml, classes=["Adelie", "Gentoo"])
    code, _, err = _lifecycle(config, capsys, "label", str(item), "Emperor")
    assert (code, err.strip()) == (
        EXIT_BAD_INPUT,
        "error: label 'Emperor' is not a class of the dataset; one of ['Adelie', 'Gentoo']",
    )
    code, out, _ = _lifecycle(config, capsys, "label", str(item), "Gentoo")
    assert (code, out) == (0, f"item {item}: label Gentoo (model predicted Adelie (p 0.50))\n")


def test_without_label_classes_the_schemas_classes_rule(tmp_path, tiny_dataset_yaml, write_yaml, capsys):
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    from ml_lifecycle.datasets.schema_file import record_label_classes

    config, item = _multiclass_project(tmp_path, tiny_dataset_yaml, write_yaml)
    schema = schema_pb2.Schema()
    record_label_classes(schema, "species", ["Adelie", "Chinstrap"])
    (tmp_path / "schema.pbtxt").write_text(text_format.MessageToString(schema))
    code, _, err = _lifecycle(config, capsys, "label", str(item), "Gentoo")
    assert code == EXIT_BAD_INPUT and "one of ['Adelie', 'Chinstrap']" in err
    assert _lifecycle(config, capsys, "label", str(item), "Chinstrap")[0] == 0


def test_export_reports_the_items_written_not_the_files_lines(project, capsys):
    config, _ = project
    queue = ReviewQueue(config.parent / "work" / "review" / "queue.sqlite")
    # A value with a line break is one quoted CSV cell across two lines.
    queue.label(queue.add("tiny", 3, {**FEATURES, "payment": "Cash\nor card"}, 0.5, True), 1)
    code, out, _ = _lifecycle(config, capsys, "export", "--span", "4")
    assert code == 0 and "wrote span 4: 1 labelled rows" in out

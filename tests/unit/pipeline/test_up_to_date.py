"""ml_lifecycle.pipeline.runners.up_to_date: the check that lets `lifecycle run` skip a span nothing
changed for, on a tiny project in tmp_path with a real SQLite MLMD store shaped like one TFX run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from ml_metadata.proto import metadata_store_pb2 as mlmd

from ml_lifecycle.config.project import PipelineConfig, TrainingConfig
from ml_lifecycle.pipeline.runners import up_to_date
from ml_lifecycle.pipeline.runners.up_to_date import (
    check_up_to_date,
    record_complete_run,
    record_path,
    run_fingerprint,
    run_output_uris,
    store_marker,
    write_record,
)
from ml_lifecycle.store.connection import open_store
from ml_lifecycle.store.queries import RunNotFoundError

RUN_ID = "span-3-20240101T000000.000000"
# The store marker before the first run (no store yet): every execution is newer.
NO_RUNS_YET = {"executions_max_id": 0}


@pytest.fixture
def project(tmp_path, tiny_dataset_config, tiny_span):
    """A config with a curated schema, a 2-span training window and spans 1-3 on disk."""
    (tmp_path / "schema.pbtxt").write_text('feature { name: "fare" type: FLOAT }\n')
    for span in (1, 2, 3):
        data_root, _ = tiny_span([["10.0", "41.9", "5", "Cash", "1"]], span=span)
    return PipelineConfig(
        dataset=tiny_dataset_config(schema="schema.pbtxt"),
        work_dir=str(tmp_path / "work"),
        data_root=str(data_root),
        training=TrainingConfig(window_spans=2),
    )


def _event(kind, artifact_id, execution_id, key):
    event = mlmd.Event(type=kind, artifact_id=artifact_id, execution_id=execution_id)
    event.path.steps.add().key = key
    return event


def _put_run(config: PipelineConfig, run_id: str, tmp_path) -> dict[str, str]:
    """One run: ExampleGen -> Trainer, plus a resolver passing along an older run's model.

    Returns the artifact URIs by role; each exists on disk."""
    store = open_store(config.metadata_connection_config(), create=True)
    artifact_type = store.put_artifact_type(mlmd.ArtifactType(name="Examples"))
    execution_type = store.put_execution_type(mlmd.ExecutionType(name="tfx.Trainer"))
    run_type = store.put_context_type(mlmd.ContextType(name="pipeline_run"))
    uris = {role: str(tmp_path / "pipelines" / role) for role in ("examples", "model", "old_model")}
    for uri in uris.values():
        os.makedirs(uri)
    [run_context] = store.put_contexts([mlmd.Context(type_id=run_type, name=run_id)])
    examples, model, old_model = store.put_artifacts(
        [mlmd.Artifact(type_id=artifact_type, uri=uris[role]) for role in ("examples", "model", "old_model")]
    )
    gen, trainer, resolver = store.put_executions(
        [mlmd.Execution(type_id=execution_type, last_known_state=mlmd.Execution.COMPLETE)] * 3
    )
    store.put_events(
        [
            _event(mlmd.Event.OUTPUT, examples, gen, "examples"),
            _event(mlmd.Event.INPUT, examples, trainer, "examples"),
            _event(mlmd.Event.OUTPUT, model, trainer, "model"),
            _event(mlmd.Event.INTERNAL_OUTPUT, old_model, resolver, "model"),
        ]
    )
    store.put_attributions_and_associations(
        [], [mlmd.Association(context_id=run_context, execution_id=e) for e in (gen, trainer, resolver)]
    )
    return uris


@pytest.fixture
def recorded(project, tmp_path):
    """The project after one complete run of span 3, recorded."""
    uris = _put_run(project, RUN_ID, tmp_path)
    record = record_complete_run(project, 3, RUN_ID, up_to_date.fingerprint_parts(project, 3), NO_RUNS_YET)
    return project, record, uris


# --- the fingerprint ---------------------------------------------------------------------------


def test_fingerprint_is_stable_for_unchanged_inputs(project):
    assert run_fingerprint(project, 3) == run_fingerprint(project, 3)
    assert len(run_fingerprint(project, 3)) == 64


@pytest.mark.parametrize(
    "update",
    [
        lambda c: {"training": c.training.model_copy(update={"gbt_num_trees": 7})},
        lambda c: {"dataset": c.dataset.model_copy(update={"na_values": ["?"]})},
        lambda c: {"enable_cache": False},
    ],
    ids=["training", "dataset", "top-level"],
)
def test_fingerprint_changes_with_the_config(project, update):
    changed = project.model_copy(update=update(project))

    assert run_fingerprint(changed, 3) != run_fingerprint(project, 3)


def test_fingerprint_changes_when_a_span_file_in_the_window_is_touched(project):
    before = run_fingerprint(project, 3)
    span_file = project.data_root_path / "span-2" / "data.csv"
    stat = span_file.stat()
    os.utime(span_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))

    assert run_fingerprint(project, 3) != before


def test_fingerprint_changes_when_a_span_file_in_the_window_is_rewritten_or_removed(project):
    before = run_fingerprint(project, 3)
    span_file = project.data_root_path / "span-3" / "data.csv"
    span_file.write_text(span_file.read_text() + "12.0,42,7,Cash,0\n")
    rewritten = run_fingerprint(project, 3)
    span_file.unlink()

    assert len({before, rewritten, run_fingerprint(project, 3)}) == 3


def test_fingerprint_ignores_spans_outside_the_window(project):
    before = {span: run_fingerprint(project, span) for span in (2, 3)}
    (project.data_root_path / "span-1" / "data.csv").write_text("other rows\n")
    (project.data_root_path / "span-4").mkdir()
    (project.data_root_path / "span-4" / "data.csv").write_text("later rows\n")

    assert run_fingerprint(project, 3) == before[3]
    # Span 1 is in span 2's window (spans 1-2).
    assert run_fingerprint(project, 2) != before[2]


def test_fingerprint_changes_with_the_schema(project):
    before = run_fingerprint(project, 3)
    schema = project.dataset.resolve_schema()
    schema.write_text(schema.read_text() + 'feature { name: "lat" type: FLOAT }\n')
    edited = run_fingerprint(project, 3)
    schema.unlink()

    assert len({before, edited, run_fingerprint(project, 3)}) == 3


def test_fingerprint_covers_the_code_of_every_package_area(project, tmp_path, monkeypatch):
    files = up_to_date._code_files()
    assert {
        "ml_lifecycle/config/project.py",
        "ml_lifecycle/pipeline/runners/up_to_date.py",
        "ml_lifecycle/components/__init__.py",
    } <= set(files)
    assert not any("__pycache__" in key for key in files)

    (tmp_path / "demo_code").mkdir()
    module = tmp_path / "demo_code" / "__init__.py"
    module.write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(up_to_date, "CODE_PACKAGES", ("demo_code",))
    before = run_fingerprint(project, 3)
    module.write_text("X = 2\n")

    assert run_fingerprint(project, 3) != before


def test_fingerprint_changes_with_a_tracked_distribution(project, monkeypatch):
    before = run_fingerprint(project, 3)
    monkeypatch.setattr(up_to_date, "TRACKED_DISTRIBUTIONS", ("tfx", "no-such-distribution-xyz"))

    assert run_fingerprint(project, 3) != before


# --- the store ---------------------------------------------------------------------------------


def test_store_marker_moves_with_every_kind_of_write(project, tmp_path):
    _put_run(project, RUN_ID, tmp_path)
    connection = project.metadata_connection_config()
    store = open_store(connection)
    markers = [store_marker(connection)]

    execution = store.get_executions()[0]
    execution.last_known_state = mlmd.Execution.FAILED
    store.put_executions([execution])
    markers.append(store_marker(connection))
    store.put_artifacts([mlmd.Artifact(type_id=store.get_artifact_type("Examples").id, uri="/x")])
    markers.append(store_marker(connection))
    store.put_contexts([mlmd.Context(type_id=store.get_context_type("pipeline_run").id, name="another")])
    markers.append(store_marker(connection))

    assert len({json.dumps(m, sort_keys=True) for m in markers}) == 4
    assert store_marker(connection) == markers[-1]


def test_run_output_uris_are_the_runs_outputs_only(project, tmp_path):
    uris = _put_run(project, RUN_ID, tmp_path)
    store = open_store(project.metadata_connection_config())

    assert run_output_uris(store, RUN_ID) == sorted([uris["examples"], uris["model"]])
    with pytest.raises(RunNotFoundError, match="no pipeline run 'span-9'"):
        run_output_uris(store, "span-9")


# --- the record and the check ------------------------------------------------------------------


def test_a_recorded_run_with_nothing_changed_is_up_to_date(recorded):
    config, record, uris = recorded

    check = check_up_to_date(config, 3)

    assert check.is_up_to_date
    assert check.record == record
    assert check.record.run_id == RUN_ID
    assert check.record.output_uris == sorted([uris["examples"], uris["model"]])
    assert RUN_ID in check.reason


def test_without_a_record_a_span_is_not_up_to_date(recorded):
    config, _, _ = recorded

    check = check_up_to_date(config, 2)

    assert not check.is_up_to_date
    assert check.reason == "no record of a complete run of span 2"


@pytest.mark.parametrize("content", [b"{not json", b'{"fingerprint": "x"}', b"\xff\xfe"])
def test_a_corrupt_record_is_not_up_to_date(recorded, content):
    config, _, _ = recorded
    record_path(config, 3).write_bytes(content)

    check = check_up_to_date(config, 3)

    assert check.record is None
    assert "unreadable or corrupt" in check.reason


def test_a_changed_input_is_named(recorded):
    config, _, _ = recorded
    (config.data_root_path / "span-3" / "data.csv").write_text("new rows\n")

    check = check_up_to_date(config, 3)

    assert check.record is None
    assert check.reason == f"span files changed since run {RUN_ID}"


def test_a_changed_config_is_named(recorded):
    config, _, _ = recorded
    changed = config.model_copy(update={"enable_cache": False})

    assert check_up_to_date(changed, 3).reason == f"config changed since run {RUN_ID}"


def test_a_store_written_since_the_run_is_not_up_to_date(recorded):
    config, _, _ = recorded
    store = open_store(config.metadata_connection_config())
    store.put_contexts([mlmd.Context(type_id=store.get_context_type("pipeline_run").id, name="later")])

    check = check_up_to_date(config, 3)

    assert check.record is None
    assert check.reason == f"the metadata store changed since run {RUN_ID}"


def test_a_missing_store_is_not_up_to_date_and_is_not_created(recorded):
    config, _, _ = recorded
    config.metadata_file.unlink()

    assert check_up_to_date(config, 3).reason == "no metadata store"
    assert not config.metadata_file.exists()


def test_a_deleted_output_is_not_up_to_date(recorded):
    config, _, uris = recorded
    os.rmdir(uris["model"])

    check = check_up_to_date(config, 3)

    assert check.record is None
    assert check.reason == f"output missing: {uris['model']}"


def test_a_non_local_output_is_not_up_to_date(recorded):
    config, record, _ = recorded
    write_record(config, 3, record.model_copy(update={"output_uris": ["gs://bucket/model"]}))

    assert check_up_to_date(config, 3).reason == "output gs://bucket/model is not on the local filesystem"


def test_a_fingerprint_taken_before_the_run_is_what_the_record_keeps(project, tmp_path):
    parts = up_to_date.fingerprint_parts(project, 3)
    _put_run(project, RUN_ID, tmp_path)
    (project.data_root_path / "span-3" / "data.csv").write_text("edited during the run\n")

    record_complete_run(project, 3, RUN_ID, parts, NO_RUNS_YET)

    assert check_up_to_date(project, 3).reason == f"span files changed since run {RUN_ID}"


def test_write_record_replaces_atomically_and_leaves_no_temp_file(recorded):
    config, record, _ = recorded
    newer = record.model_copy(update={"run_id": "span-3-later"})

    path = write_record(config, 3, newer)

    assert path == config.up_to_date_dir / "span-3.json"
    assert sorted(p.name for p in config.up_to_date_dir.iterdir()) == ["span-3.json"]
    assert json.loads(path.read_text())["run_id"] == "span-3-later"


def test_a_run_that_overlapped_another_is_not_recorded(project, tmp_path):
    parts = up_to_date.fingerprint_parts(project, 3)
    _put_run(project, "span-2-20240101T000000.000001", tmp_path / "other")  # written meanwhile
    _put_run(project, RUN_ID, tmp_path)

    assert record_complete_run(project, 3, RUN_ID, parts, NO_RUNS_YET) is None
    assert check_up_to_date(project, 3).reason == "no record of a complete run of span 3"


def test_a_run_after_another_finished_is_recorded(project, tmp_path):
    _put_run(project, "span-2-20240101T000000.000001", tmp_path / "other")
    before = store_marker(project.metadata_connection_config())
    _put_run(project, RUN_ID, tmp_path)

    record = record_complete_run(project, 3, RUN_ID, up_to_date.fingerprint_parts(project, 3), before)

    assert record is not None and check_up_to_date(project, 3).record == record


def test_every_csv_of_a_window_span_counts(project):
    before = run_fingerprint(project, 3)
    (project.data_root_path / "span-3" / "extra.csv").write_text(
        "fare\n1.0\n"
    )  # ExampleGen reads span-3/*.csv

    assert run_fingerprint(project, 3) != before


def test_a_span_below_one_still_fingerprints_its_own_files(project):
    (project.data_root_path / "span-0").mkdir()
    (project.data_root_path / "span-0" / "data.csv").write_text("fare\n1.0\n")
    before = run_fingerprint(project, 0)
    (project.data_root_path / "span-0" / "data.csv").write_text("fare\n2.0\n")

    assert run_fingerprint(project, 0) != before


def test_checking_imports_neither_tensorflow_nor_tfx(recorded):
    config, _, _ = recorded
    script = textwrap.dedent(
        f"""
        import json, sys
        from ml_lifecycle.config.project import PipelineConfig
        from ml_lifecycle.pipeline.runners import up_to_date
        config = PipelineConfig.model_validate_json({config.model_dump_json(by_alias=True)!r})
        up_to_date.run_fingerprint(config, 3)
        up_to_date.store_marker(config.metadata_connection_config())
        check = up_to_date.check_up_to_date(config, 3)
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tfx", "apache_beam")
                       or m.startswith("tensorflow"))
        print(json.dumps({{"up_to_date": check.is_up_to_date, "heavy": heavy}}))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )

    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"up_to_date": True, "heavy": []}

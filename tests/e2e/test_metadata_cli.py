"""`lifecycle runs | artifacts | lineage | diff` against the store of a real two-span run."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ml_lifecycle.cli.main import EXIT_BAD_INPUT, main

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def _cli(capsys, work_dir, *args):
    code = main(["--config", str(REPO / "lifecycle.yaml"), "--work-dir", str(work_dir), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def runs(taxi_config, two_span_runs):
    from ml_lifecycle.metadata.client import MetadataClient

    client = MetadataClient.from_config(taxi_config)
    reports = [client.run(outcome.run_id) for outcome in two_span_runs]
    return taxi_config, two_span_runs, reports


def test_runs_lists_both_runs_newest_first(runs, capsys):
    config, outcomes, reports = runs
    code, out, _ = _cli(capsys, config.work_dir, "runs")
    assert code == 0
    lines = out.splitlines()
    first, second = (next(i for i, line in enumerate(lines) if line.startswith(o.run_id)) for o in outcomes)
    assert second < first  # newest first
    row = lines[second].split()
    assert row[1] == "2" and "COMPLETE" in row and row[-1] == reports[1].pushed_version


def test_artifacts_by_type_and_span(runs, capsys):
    config, _, _ = runs
    code, out, _ = _cli(capsys, config.work_dir, "artifacts", "--type", "Model", "--span", "1")
    assert code == 0
    rows = out.splitlines()[2:]
    assert rows and all(row.split()[1:4] == ["Model", "1", "trainer"] for row in rows)
    code, _, err = _cli(capsys, config.work_dir, "artifacts", "--type", "Nope")
    assert code == EXIT_BAD_INPUT and "no artifact type 'Nope'" in err


def test_lineage_from_pushed_model_back_to_the_span_files(runs, capsys):
    config, _, reports = runs
    version = reports[1].pushed_version
    code, out, _ = _cli(capsys, config.work_dir, "lineage", version)
    assert code == 0
    assert out.splitlines()[0].startswith(f"PushedModel version {version}")
    span_file = config.data_root_path / "span-2" / "data.csv"
    for expected in (
        "Examples span 2",
        "example_gen (CsvExampleGen",
        "trainer (Trainer",
        f"file {span_file}",
    ):
        assert expected in out

    code, out, _ = _cli(capsys, config.work_dir, "lineage", version, "--format", "json")
    graph = json.loads(out)
    nodes = {n["key"]: n for n in graph["nodes"]}
    assert f"file:{span_file}" in nodes
    examples = [n for n in nodes.values() if n["type"] == "Examples" and n["properties"].get("span") == 2]
    assert examples, "the ExampleGen output of span 2 is upstream of its pushed model"
    assert any(e["source"] == f"file:{span_file}" for e in graph["edges"])

    code, out, _ = _cli(capsys, config.work_dir, "lineage", version, "--format", "dot")
    assert code == 0 and out.startswith("digraph lineage {") and out.rstrip().endswith("}")


def test_lineage_down_from_span_one_examples_reaches_its_pushed_model(runs, capsys):
    config, _, reports = runs
    from ml_lifecycle.metadata.client import MetadataClient

    examples = MetadataClient.from_config(config).latest_artifact("Examples", span=1)
    code, out, _ = _cli(capsys, config.work_dir, "lineage", str(examples.id), "--down")
    assert code == 0 and f"PushedModel version {reports[0].pushed_version}" in out
    code, _, err = _cli(capsys, config.work_dir, "lineage", "424242424")
    assert code == EXIT_BAD_INPUT and "neither a pushed model version nor an artifact id" in err


def test_diff_between_the_two_runs(runs, capsys):
    config, outcomes, reports = runs
    code, out, _ = _cli(capsys, config.work_dir, "diff", outcomes[0].run_id, outcomes[1].run_id)
    assert code == 0
    assert "span 1 -> 2" in out
    assert "schema:   unchanged" in out
    assert "features over threshold" in out  # statistics of span 2 compared with span 1
    auc = next(m for m in reports[1].metrics if m.name == "auc")
    assert f"{auc.candidate:.4g}" in next(line for line in out.splitlines() if line.strip().startswith("auc"))
    assert f"pushed:   {reports[0].pushed_version} -> {reports[1].pushed_version}" in out
    code, _, err = _cli(capsys, config.work_dir, "diff", outcomes[0].run_id, "no-such-run")
    assert code == EXIT_BAD_INPUT and "no pipeline run 'no-such-run'" in err


def test_missing_store_is_named(tmp_path, capsys):
    for command in (["runs"], ["artifacts"], ["lineage", "1"], ["diff", "a", "b"]):
        code, _, err = _cli(capsys, tmp_path, *command)
        assert code == EXIT_BAD_INPUT
        assert "no metadata store" in err and "metadata.sqlite" in err


def test_store_locked_by_another_process_is_named(runs, tmp_path):
    """A process holding SQLite's exclusive lock (as a writer mid-transaction does): after MLMD's
    own retries (~25 s) the CLI names the lock instead of printing an MLMD error."""
    config, _, _ = runs
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(config.metadata_file, work / "metadata.sqlite")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sqlite3, sys, time
                con = sqlite3.connect({str(work / "metadata.sqlite")!r}, isolation_level=None)
                con.execute("BEGIN EXCLUSIVE")
                print("locked", flush=True)
                time.sleep(120)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        result = subprocess.run(
            [str(Path(sys.executable).parent / "lifecycle"), "--work-dir", str(work), "runs"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=100,
        )
    finally:
        holder.kill()
    assert result.returncode == EXIT_BAD_INPUT, result.stderr
    assert "locked by another process" in result.stderr
    assert "Traceback" not in result.stderr
    # One line naming the lock, and no listing (not even a header) of the store it could not read.
    assert result.stderr.strip().startswith("error: the metadata store is locked by another process")
    assert result.stdout == ""

"""`lifecycle compile --target kubeflow-v2`: writes the spec and says what went into it; config
problems exit 2 with the field named, before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from ml_lifecycle.cli.main import EXIT_BAD_INPUT, main
from tests.cli.conftest import HEADER

KUBEFLOW = {"image": "gcr.io/my-project/ml-lifecycle:1", "pipeline_root": "gs://my-bucket/root"}


@pytest.fixture
def project(make_project):
    """A project dir (config, dataset, schema) whose span 2 holds three good rows on this machine."""
    return make_project(span=2, rows=3)


def _configure(project: Path, **sections) -> Path:
    path = project / "lifecycle.yaml"
    data = yaml.safe_load(path.read_text()) | sections
    path.write_text(yaml.safe_dump(data))
    return path


def _compile(project, capsys, *args):
    code = main(["--config", str(project / "lifecycle.yaml"), "compile", "--target", "kubeflow-v2", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_compile_writes_the_spec_and_summarises_it(project, capsys):
    _configure(project, kubeflow=KUBEFLOW)
    out = project / "build" / "taxi.json"
    code, stdout, stderr = _compile(project, capsys, "--out", str(out), "--span", "2")
    assert code == 0, stderr
    spec = json.loads(out.read_text())
    tasks = spec["pipelineSpec"]["root"]["dag"]["tasks"]
    assert f"wrote {out}: kubeflow-v2 spec of ml-lifecycle for span 2, {len(tasks)} tasks" in stdout
    assert "image          gcr.io/my-project/ml-lifecycle:1" in stdout
    assert "beam           direct: --direct_running_mode=in_memory" in stdout
    assert (
        "note: baseline_statistics_resolver: BaselineStatisticsStrategy -> LatestArtifactStrategy" in stdout
    )
    # The span's rows were counted here, so the compiled anomaly gate checks them.
    gate = tasks["anomaly_gate"]["inputs"]["parameters"]["expected_num_examples"]
    assert gate["runtimeValue"]["constantValue"]["intValue"] == "3"


def test_span_not_on_this_machine_compiles_without_the_row_check(project, capsys):
    _configure(project, kubeflow=KUBEFLOW | {"data_root": "gs://my-bucket/data"})
    code, stdout, stderr = _compile(project, capsys, "--out", str(project / "s7.json"), "--span", "7")
    assert code == 0, stderr
    assert "note: span 7: row count unknown here, the anomaly gate's row check is off" in stdout


def test_missing_kubeflow_settings_exit_2_and_write_nothing(project, capsys):
    out = project / "taxi.json"
    code, _, stderr = _compile(project, capsys, "--out", str(out))
    assert code == EXIT_BAD_INPUT
    assert "needs kubeflow.image, kubeflow.pipeline_root" in stderr
    assert not out.exists()


def test_invalid_beam_runner_options_exit_2_naming_the_field(project, capsys):
    _configure(project, kubeflow=KUBEFLOW, beam={"runner": "flink"})
    code, _, stderr = _compile(project, capsys, "--out", str(project / "taxi.json"))
    assert code == EXIT_BAD_INPUT
    assert "beam.runner 'flink' needs beam.flink.job_endpoint" in stderr
    assert str(project / "lifecycle.yaml") in stderr


def test_bad_rows_in_a_local_span_stop_the_compile(project, capsys):
    _configure(project, kubeflow=KUBEFLOW)
    (project / "work" / "data" / "taxi" / "span-2" / "data.csv").write_text(f"{HEADER}\n1.5,7.25\n")
    code, _, stderr = _compile(project, capsys, "--out", str(project / "taxi.json"), "--span", "2")
    assert code == EXIT_BAD_INPUT
    assert "span-2/data.csv:2: malformed row, expected 16 fields, found 2" in stderr
    assert not (project / "taxi.json").exists()

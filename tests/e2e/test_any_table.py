"""Bring your own table: three made-up datasets, one per task, each through the CLI by its YAML
alone: `data prepare` -> `schema bootstrap` -> `run --spans 1:3` -> `serve`, answered over HTTP
on the task's route, with the pushed model's lineage reaching every span of its window.

The datasets carry what real files carry (tests/e2e/messy_datasets.py): dates as text, `NA`
tokens, column names with spaces, parentheses, slashes and non-ASCII letters, a CSV glob and a
Parquet directory.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from tests.e2e import messy_datasets

pytestmark = pytest.mark.e2e

LIFECYCLE = str(Path(sys.executable).parent / "lifecycle")
WINDOW = 2


def _lifecycle(directory: Path, *args: str) -> str:
    result = subprocess.run(
        [LIFECYCLE, *args],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 0, f"lifecycle {' '.join(args)}:\n{result.stdout}\n{result.stderr[-3000:]}"
    return result.stdout


def _run_dataset(directory: Path, write) -> tuple[dict, str]:
    dataset_yaml = write(directory)
    messy_datasets.write_project(directory, dataset_yaml)
    prepared = _lifecycle(directory, "data", "prepare")
    _lifecycle(directory, "schema", "bootstrap")
    ran = _lifecycle(directory, "run", "--spans", "1:3")
    return {"prepared": prepared, "ran": ran}, dataset_yaml.stem


def _pushed_versions(directory: Path, name: str) -> list[str]:
    root = directory / "work" / "serving" / name
    return sorted(p.name for p in root.iterdir() if p.name.isdigit()) if root.exists() else []


def _model_spans(graph: dict, key: str) -> set[int]:
    """The spans `lifecycle lineage` says a Model node was trained on."""
    label = {node["key"]: node for node in graph["nodes"]}[key]["label"]
    found = re.fullmatch(r"Model trained on spans? ([\d, ]+)", label)
    assert found, label
    return {int(span) for span in found.group(1).split(", ")}


def _pushed_model_spans(directory: Path, version: str) -> set[int]:
    """The spans the model pushed as `version` learned from, read from its lineage: the Model the
    model check stamped (the Evaluator's baseline model is in the lineage too), each of its spans
    also there as ExampleGen's Examples."""
    graph = json.loads(_lifecycle(directory, "lineage", version, "--format", "json"))
    nodes = {node["key"]: node for node in graph["nodes"]}
    (checked,) = {
        edge["source"]
        for edge in graph["edges"]
        if edge["key"] == "model" and nodes[edge["target"]]["label"] == "model_check"
    }
    spans = _model_spans(graph, checked)
    labels = [node["label"] for node in graph["nodes"] if node["type"] == "Examples"]
    assert spans <= {int(m.group(1)) for m in map(re.compile(r"Examples span (\d+)").fullmatch, labels) if m}
    return spans


def _pushes_by_span(directory: Path) -> dict[int, str]:
    """Span -> the version its run pushed, from `lifecycle runs` (columns: run id, span, started
    date and time, seconds, status, cached, pushed)."""
    pushes = {}
    for line in _lifecycle(directory, "runs").splitlines()[2:]:
        parts = line.split()
        if len(parts) >= 8 and parts[-1].isdigit():
            pushes[int(parts[1])] = parts[-1]
    return pushes


class Served:
    def __init__(self, directory: Path) -> None:
        self.process = subprocess.Popen(
            [LIFECYCLE, "serve", "--port", "0"],
            cwd=directory,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        )
        deadline = time.monotonic() + 120
        self.url = ""
        while time.monotonic() < deadline and not self.url:
            line = self.process.stdout.readline()
            if not line and self.process.poll() is not None:
                raise AssertionError("lifecycle serve exited before it listened")
            found = re.search(r"serving on (http://\S+)", line)
            self.url = found.group(1) if found else ""
        assert self.url, "lifecycle serve did not say where it listens"

    def post(self, path: str, body: dict) -> tuple[int, dict]:
        request = urllib.request.Request(
            self.url + path, json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def _typed(cell: str) -> object:
    for kind in (int, float):
        try:
            return kind(cell)
        except ValueError:
            pass
    return cell


def _eval_rows(directory: Path, name: str, span: int, columns: list[str], limit: int = 20) -> list[dict]:
    """Rows of a prepared span as a client would send them: original names, JSON numbers as the
    span file writes them (3 for an integer column, 3.0 for a float one), missing cells left out."""
    path = directory / "work" / "data" / name / f"span-{span}" / "data.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False).head(limit)
    return [{c: _typed(row[c]) for c in columns if row[c] != ""} for _, row in frame.iterrows()]


def _check_runs_and_lineage(directory: Path, name: str, ran: str) -> None:
    assert "span 3: COMPLETE" in ran, ran
    pushes = _pushes_by_span(directory)
    # Span 1 has no baseline to lose to, so it is pushed at least (later spans may lose).
    assert 1 in pushes and sorted(pushes.values()) == _pushed_versions(directory, name), pushes
    # Every pushed model's lineage leads to every span of its window (span 1's window is span 1).
    for span, version in pushes.items():
        assert _pushed_model_spans(directory, version) == set(range(max(1, span - WINDOW + 1), span + 1))


def test_multiclass_penguins_from_parquet(tmp_path):
    outputs, name = _run_dataset(tmp_path, messy_datasets.write_penguins)
    # The species the source leaves as NA are dropped and counted, not trained on.
    dropped = [int(n) for n in re.findall(r"\((\d+) unlabelled rows dropped\)", outputs["prepared"])]
    assert sum(dropped) == messy_datasets.PENGUINS_UNLABELLED, outputs["prepared"]
    _check_runs_and_lineage(tmp_path, name, outputs["ran"])
    features = ["Body Mass (g)", "Flipper Length (mm)", "island", "Clutch Completion"]
    rows = _eval_rows(tmp_path, name, 3, features + ["species"])
    truth = [row.pop("species") for row in rows]

    server = Served(tmp_path)
    try:
        status, answer = server.post(f"/v1/models/{name}:classify", {"examples": rows})
        assert status == 200, answer
        result = answer["result"]
        assert len(result) == len(rows)
        for classes in result:
            assert sorted(label for label, _ in classes) == ["Adelie", "Chinstrap", "Gentoo"]
            assert math.isclose(sum(score for _, score in classes), 1.0, abs_tol=1e-4)
        predicted = [max(classes, key=lambda pair: pair[1])[0] for classes in result]
        # The classes are well separated by mass and flipper length: most answers are right.
        assert sum(p == t for p, t in zip(predicted, truth, strict=True)) >= 0.7 * len(rows)
        status, wrong_route = server.post(f"/v1/models/{name}:regress", {"examples": rows[:1]})
        assert status == 400 and "multiclass" in wrong_route["error"]
        bad = dict(rows[0], **{"Body Mass (g)": "heavy"})
        status, refused = server.post(f"/v1/models/{name}:predict", {"instances": [bad]})
        assert status == 400 and "Body Mass (g)" in refused["error"]
    finally:
        server.stop()


def test_regression_flats_from_a_csv_glob(tmp_path):
    outputs, name = _run_dataset(tmp_path, messy_datasets.write_flats)
    _check_runs_and_lineage(tmp_path, name, outputs["ran"])
    features = ["Floor Area (m²)", "rooms", "district/zone"]
    rows = _eval_rows(tmp_path, name, 3, features + ["price"], limit=40)
    truth = [row.pop("price") for row in rows]

    server = Served(tmp_path)
    try:
        status, answer = server.post(f"/v1/models/{name}:regress", {"examples": rows})
        assert status == 200, answer
        predicted = answer["result"]
        assert len(predicted) == len(rows) and all(math.isfinite(v) for v in predicted)
        errors = [p - t for p, t in zip(predicted, truth, strict=True)]
        rmse = math.sqrt(sum(e * e for e in errors) / len(errors))
        spread = pd.Series(truth).std()
        # Price follows area and district: the model beats predicting the mean by a wide margin.
        assert rmse < 0.6 * spread, (rmse, spread)
        status, wrong_route = server.post(f"/v1/models/{name}:classify", {"examples": rows[:1]})
        assert status == 400 and "regression" in wrong_route["error"]
    finally:
        server.stop()


def test_binary_churn_with_day_first_dates(tmp_path):
    outputs, name = _run_dataset(tmp_path, messy_datasets.write_churn)
    _check_runs_and_lineage(tmp_path, name, outputs["ran"])
    features = ["tenure (months)", "Monthly Charges ($)", "Contract"]
    rows = _eval_rows(tmp_path, name, 3, features)

    server = Served(tmp_path)
    try:
        status, answer = server.post(f"/v1/models/{name}:classify", {"examples": rows})
        assert status == 200, answer
        for classes in answer["result"]:
            assert [label for label, _ in classes] == ["0", "1"]
            assert math.isclose(classes[0][1] + classes[1][1], 1.0, abs_tol=1e-5)
    finally:
        server.stop()

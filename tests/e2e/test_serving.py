"""The model server over real HTTP, serving the two versions that spans 1 and 2 pushed.

One server for the module (loading two SavedModels costs a few seconds) on an ephemeral port,
with its own serving root (a copy of the two pushed versions, so pushes made here do not leak into
the pipeline tests), a partial-automation review band, a low alert threshold, and a fast watcher.
"""

from __future__ import annotations

import base64
import csv
import http.client
import json
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tests.e2e.serving_project import serving_project

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
DEFER_LOW, DEFER_HIGH = 0.3, 0.5


def _typed_rows(config, span: int, limit: int) -> list[dict]:
    """Span CSV rows as a JSON client sends them: typed values, empty cells left out."""
    features = config.dataset.features
    kinds = {name: float for name in features.numeric + features.bucketized}
    kinds.update({name: int for name in features.categorical_int})
    kinds.update({name: str for name in features.categorical_string})
    with open(config.data_root_path / f"span-{span}" / "data.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))[:limit]
    return [
        {
            name: (int(float(v)) if kind is int else kind(v))
            for name, kind in kinds.items()
            if (v := row[name]) != ""
        }
        for row in rows
    ]


def _serialized(row: dict) -> bytes:
    example = tf.train.Example()
    for name, value in row.items():
        feature = example.features.feature[name]
        if isinstance(value, str):
            feature.bytes_list.value.append(value.encode())
        elif isinstance(value, int):
            feature.int64_list.value.append(value)
        else:
            feature.float_list.value.append(value)
    return example.SerializeToString()


class Client:
    """A keep-alive HTTP/1.1 client, one per thread."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=30)

    def request(self, method: str, path: str, body=None, headers=None):
        raw = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
        self.connection.request(method, path, body=raw, headers=headers or {})
        response = self.connection.getresponse()
        payload = response.read()
        text = payload.decode()
        answer = (
            json.loads(text)
            if response.getheader("Content-Type", "").startswith("application/json")
            else text
        )
        return response.status, answer, response

    def close(self) -> None:
        self.connection.close()


@pytest.fixture(scope="module")
def served(taxi_config, two_span_runs, tmp_path_factory):
    from ml_lifecycle.config.serving import (
        AdminConfig,
        AlertRule,
        HumanReviewConfig,
        MonitoringConfig,
        RolloutConfig,
        ServingConfig,
    )
    from ml_lifecycle.serving.http.build import build_server

    work = tmp_path_factory.mktemp("serving-work")
    # The version numbers the labels and rollouts below name: the first two pushed.
    source = taxi_config.serving_root_path / taxi_config.serving_model_name
    versions = sorted(int(p.name) for p in source.iterdir() if p.name.isdigit())[:2]
    serving = ServingConfig(
        port=0,
        admin=AdminConfig(port=0),
        poll_seconds=0.2,
        version_labels={"first": versions[0]},
        rollout=RolloutConfig(on_new_version="hold"),
        review=HumanReviewConfig(automation="partial", defer_low=DEFER_LOW, defer_high=DEFER_HIGH),
        monitoring=MonitoringConfig(
            window=200,
            alerts=[AlertRule(name="bad-requests", metric="client_error_rate", max=0.05, min_count=20)],
        ),
    )
    config, copied = serving_project(taxi_config, work, serving)
    assert copied == versions
    server = build_server(config).start()
    yield server, config, versions
    server.stop()


@pytest.fixture
def client(served):
    client = Client(served[0].url)
    yield client
    client.close()


@pytest.fixture
def rollout(served):
    """Posts a rollout action to the admin listener; the module's tests leave the state as they
    found it (stable = v2)."""
    admin = Client(served[0].admin_url)

    def post(**action):
        status, answer, _ = admin.request(
            "POST", "/v1/admin/models/taxi/rollout", action, {"Content-Type": "application/json"}
        )
        assert status == 200, answer
        return answer

    yield post
    post(action="stable", version=served[2][1])
    post(action="shadow_off")
    admin.close()


def test_status_metadata_and_labels(served, client):
    _, _, (old, new) = served
    status, answer, _ = client.request("GET", "/v1/models/taxi")
    assert status == 200
    assert {(s["version"], s["state"]) for s in answer["model_version_status"]} == {
        (str(old), "AVAILABLE"),
        (str(new), "AVAILABLE"),
    }
    status, answer, _ = client.request("GET", f"/v1/models/taxi/versions/{old}/metadata")
    signatures = answer["metadata"]["signature_def"]["signature_def"]
    assert status == 200 and answer["model_spec"]["version"] == str(old)
    assert set(signatures["serving_default"]["inputs"]) == {"examples"}
    assert (
        "fare" in signatures["serving_raw"]["inputs"]
        and "big_tipper" not in signatures["serving_raw"]["inputs"]
    )
    status, answer, response = client.request(
        "POST", "/v1/models/taxi/labels/first:predict", {"instances": _typed_rows(served[1], 2, 1)}
    )
    assert status == 200 and response.getheader("X-Model-Version") == str(old)
    status, answer, response = client.request(
        "POST", "/v1/models/taxi/labels/stable:predict", {"instances": []}
    )
    assert status == 400


def test_rows_columns_and_serialized_examples_agree(served, client):
    rows = _typed_rows(served[1], 2, 20)
    path = f"/v1/models/taxi/versions/{served[2][1]}:predict"
    status, by_rows, _ = client.request("POST", path, {"instances": rows})
    assert status == 200, by_rows
    predictions = np.array(by_rows["predictions"])
    assert predictions.shape == (20, 1) and ((predictions > 0) & (predictions < 1)).all()
    names = sorted({name for row in rows for name in row})
    columns = {name: [row.get(name) for row in rows] for name in names}
    status, by_columns, _ = client.request("POST", path, {"inputs": columns})
    assert status == 200 and np.allclose(by_columns["outputs"], predictions, atol=1e-5)
    b64 = [{"b64": base64.b64encode(_serialized(row)).decode()} for row in rows]
    status, by_examples, _ = client.request(
        "POST", path, {"signature_name": "serving_default", "instances": b64}
    )
    assert status == 200 and np.allclose(by_examples["predictions"], predictions, atol=1e-5)
    status, classified, _ = client.request(
        "POST", path.replace(":predict", ":classify"), {"examples": rows[:3]}
    )
    assert status == 200
    assert np.allclose([r[1][1] for r in classified["result"]], predictions[:3, 0], atol=1e-5)
    assert [r[0][0] for r in classified["result"]] == ["0", "0", "0"]


def test_bad_input_is_a_4xx_naming_the_problem(served, client):
    row = _typed_rows(served[1], 2, 1)[0]
    cases = [
        ({"instances": [row, {**row, "fare": "cheap"}]}, 400, "instances[1]: feature 'fare'"),
        ({"instances": [{k: v for k, v in row.items() if k != "trip_miles"}]}, 400, "'trip_miles': missing"),
        ({"instances": [{**row, "tip": 3}]}, 400, "unknown feature(s) ['tip']"),
        (b'{"instances": [', 400, "JSON Parse error"),
    ]
    for body, status, message in cases:
        got, answer, _ = client.request("POST", "/v1/models/taxi:predict", body)
        assert got == status and message in answer["error"], answer
    got, answer, _ = client.request("POST", "/v1/models/taxi/versions/1:predict", {"instances": [row]})
    assert got == 404 and "Servable not found" in answer["error"]
    got, answer, _ = client.request("POST", "/v1/models/..%2F..%2Fetc:predict", {"instances": [row]})
    assert got == 400 and "invalid model name" in answer["error"]
    # Over the body limit: refused before reading, then the connection is closed.
    oversize = Client(served[0].url)
    got, answer, _ = oversize.request(
        "POST", "/v1/models/taxi:predict", b"x" * (served[1].serving.max_body_bytes + 1)
    )
    assert got == 413 and "over the limit" in answer["error"]
    oversize.close()


def test_canary_share_and_stickiness(served, client, rollout):
    old, new = served[2]
    rollout(action="canary", version=old, fraction=0.2)
    row = _typed_rows(served[1], 2, 1)
    first_answers = {}
    for index in range(2000):
        _, _, response = client.request(
            "POST", "/v1/models/taxi:predict", {"instances": row}, {"X-Routing-Key": f"u{index}"}
        )
        first_answers[index] = (response.getheader("X-Model-Version"), response.getheader("X-Route"))
    share = sum(version == str(old) for version, _ in first_answers.values()) / 2000
    # Binomial(2000, 0.2): standard deviation 0.009; 4 sigma.
    assert abs(share - 0.2) < 0.036
    assert {route for _, route in first_answers.values()} == {"canary", "stable"}
    for index in range(0, 2000, 20):
        _, _, response = client.request(
            "POST", "/v1/models/taxi:predict", {"instances": row}, {"X-Routing-Key": f"u{index}"}
        )
        assert response.getheader("X-Model-Version") == first_answers[index][0]
    answer = rollout(action="promote")
    assert answer["state"]["stable"] == old and answer["state"]["canary"] is None


def test_shadow_is_logged_and_compared_but_never_changes_answers(served, client, rollout):
    server, config, (old, new) = served
    rows = _typed_rows(config, 2, 30)
    live = [client.request("POST", "/v1/models/taxi:predict", {"instances": [row]})[1] for row in rows]
    rollout(action="shadow", version=old)
    shadowed = []
    for row in rows:
        status, answer, response = client.request("POST", "/v1/models/taxi:predict", {"instances": [row]})
        assert response.getheader("X-Model-Version") == str(new)
        shadowed.append(answer)
    assert shadowed == live
    # Each copy is queued after its live answer was sent, so it can trail the client a little.
    deadline = time.monotonic() + 10
    while server.shadow_worker.counts["done"] < 30 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.shadow_worker.counts["done"] >= 30 and server.shadow_worker.counts["errors"] == 0
    _, metrics, _ = client.request("GET", "/monitoring/prometheus/metrics")
    assert "lifecycle_serving_shadow" in metrics and 'outcome="done"' in metrics


def test_rollback_under_load_drops_no_request(served, rollout):
    server, config, (old, new) = served
    rows = _typed_rows(config, 2, 5)
    failures, answered, stop = [], [0], threading.Event()

    def load():
        client = Client(server.url)
        index = 0
        while not stop.is_set():
            index += 1
            status, answer, _ = client.request(
                "POST", "/v1/models/taxi:predict", {"instances": rows}, {"X-Routing-Key": f"k{index}"}
            )
            answered[0] += 1
            if status != 200:
                failures.append((status, answer))
        client.close()

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        for action in (
            {"action": "canary", "version": old, "fraction": 0.5},
            {"action": "promote"},
            {"action": "rollback"},
            {"action": "blue_green", "blue": new, "green": old},
            {"action": "switch"},
            {"action": "switch"},
            {"action": "canary", "version": old, "fraction": 0.9},
            {"action": "rollback"},
        ):
            rollout(**action)
            time.sleep(0.2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert failures == [] and answered[0] > 20
    client = Client(server.url)
    versions = {
        client.request("POST", "/v1/models/taxi:predict", {"instances": rows}, {"X-Routing-Key": f"z{i}"})[
            2
        ].getheader("X-Model-Version")
        for i in range(50)
    }
    client.close()
    assert versions == {str(new)}  # after the rollback every request is on stable


def test_deferral_band_answers_marks_and_queues(served, client):
    from ml_lifecycle.serving.review import ReviewQueue

    server, config, (old, new) = served
    rows = _typed_rows(config, 2, 60)
    status, answer, _ = client.request("POST", f"/v1/models/taxi/versions/{new}:predict", {"instances": rows})
    scores = [p[0] for p in answer["predictions"]]
    expected = [DEFER_LOW <= s <= DEFER_HIGH for s in scores]
    assert answer["review"]["deferred"] == expected and any(expected) and not all(expected)
    queue = ReviewQueue(config.serving.review.resolve_queue_path(config.work_dir))
    deadline = time.monotonic() + 10
    while len(queue.pending(1000)) < sum(expected) and time.monotonic() < deadline:
        time.sleep(0.05)
    pending = queue.pending(1000)
    assert len(pending) >= sum(expected)
    assert all(DEFER_LOW <= item.score <= DEFER_HIGH for item in pending)
    queue.close()


def test_prediction_logs_read_back_as_prediction_log(served, client):
    from ml_lifecycle.serving.observability.log_records import log_annotations
    from ml_lifecycle.serving.observability.prediction_log import read_prediction_logs

    server, config, (old, new) = served
    rows = _typed_rows(config, 2, 3)
    client.request("POST", "/v1/models/taxi:predict", {"instances": rows}, {"X-Routing-Key": "log-me"})
    directory = config.serving.logging.resolve_directory(config.work_dir)
    fares = [r["fare"] for r in rows]

    def is_mine(log) -> bool:
        inputs = log.predict_log.request.inputs
        values = list(inputs["fare"].float_val) if "fare" in inputs else []
        return len(values) == len(fares) and np.allclose(values, fares)

    deadline = time.monotonic() + 10
    mine, logs = [], []
    while not mine and time.monotonic() < deadline:
        logs = list(read_prediction_logs(directory))
        mine = [log for log in logs if is_mine(log)]
        time.sleep(0.1)
    assert mine, f"{len(logs)} records, none with this request"
    record = mine[-1]
    assert record.log_metadata.model_spec.name == "taxi"
    assert record.log_metadata.model_spec.version.value == new
    assert log_annotations(record)[0] == "stable"
    assert len(record.predict_log.response.outputs["outputs"].float_val) == 3
    assert {log_annotations(log)[0] for log in logs} >= {"stable", "shadow"}


def test_metrics_and_alarms(served, client):
    from ml_lifecycle.cli.main import main

    server, config, _ = served
    for _ in range(30):
        client.request("POST", "/v1/models/taxi:predict", b"{broken")
    _, metrics, response = client.request("GET", "/monitoring/prometheus/metrics")
    assert response.getheader("Content-Type").startswith("text/plain")
    assert 'lifecycle_serving_requests_total{model="taxi"' in metrics and 'status_class="4xx"' in metrics
    status, answer, _ = client.request("GET", "/v1/alerts")
    assert status == 200 and [a["rule"] for a in answer["alerts"]] == ["bad-requests"]
    assert main(["--config", str(REPO / "lifecycle.yaml"), "alerts", "--url", server.url]) == 0


def test_new_push_loads_in_background_and_a_broken_one_is_not_served(served, client, capsys):
    from ml_lifecycle.cli.main import main

    server, config, (old, new) = served
    root = config.serving_root_path / "taxi"
    broken, good = new + 10, new + 20
    shutil.copytree(root / str(new), root / str(broken))
    for variables in (root / str(broken) / "variables").iterdir():
        variables.write_bytes(b"corrupt")
    deadline = time.monotonic() + 60
    states = {}
    while time.monotonic() < deadline:
        _, answer, _ = client.request("GET", "/v1/models/taxi")
        states = {int(s["version"]): s for s in answer["model_version_status"]}
        if states.get(broken, {}).get("state") == "END":
            break
        time.sleep(0.2)
    assert states[broken]["state"] == "END" and states[broken]["status"]["error_message"]
    status, _, response = client.request(
        "POST", "/v1/models/taxi:predict", {"instances": _typed_rows(config, 2, 1)}
    )
    assert status == 200 and response.getheader("X-Model-Version") == str(new)
    shutil.copytree(root / str(new), root / str(good))
    deadline = time.monotonic() + 60
    while good not in server.models["taxi"].repository.available() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert good in server.models["taxi"].repository.available()
    # on_new_version "hold": loaded, reachable by version, not routed until a rollout says so.
    args = ["--config", str(REPO / "lifecycle.yaml"), "rollout", "--url", server.admin_url]
    assert main(args + ["canary", str(good), "--fraction", "1.0"]) == 0
    assert f"canary   {good}" in capsys.readouterr().out
    _, _, response = client.request(
        "POST", "/v1/models/taxi:predict", {"instances": _typed_rows(config, 2, 1)}
    )
    assert response.getheader("X-Model-Version") == str(good)
    assert main(args + ["rollback"]) == 0
    assert f"canary   {good}" not in capsys.readouterr().out
    state = json.loads((Path(config.work_dir) / "serving_state" / "taxi.json").read_text())
    assert state["stable"] == new and state["canary"] is None

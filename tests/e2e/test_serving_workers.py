"""`lifecycle serve` with two worker processes on one port, as a user runs it (a subprocess from a
project YAML): both workers answer, a rollout change made through `lifecycle rollout` reaches
both, metrics add up across them, and SIGTERM under load drains (every answer a 200, every
answered request in the prediction logs, exit code 0)."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from tests.e2e.serving_project import serving_project

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
LIFECYCLE = str(Path(sys.executable).with_name("lifecycle"))
STATE_POLL_S = 0.3


def _rows(config, limit: int) -> list[dict]:
    import csv

    features = config.dataset.features
    with open(config.data_root_path / "span-2" / "data.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))[:limit]
    kinds = {name: float for name in features.numeric + features.bucketized}
    kinds.update({name: int for name in features.categorical_int})
    kinds.update({name: str for name in features.categorical_string})
    return [
        {
            name: (int(float(v)) if kind is int else kind(v))
            for name, kind in kinds.items()
            if (v := row[name]) != ""
        }
        for row in rows
    ]


def _request(url: str, method: str, path: str, body=None, headers=None, connection=None):
    host, port = url.removeprefix("http://").rsplit(":", 1)
    own = connection is None
    connection = connection or http.client.HTTPConnection(host, int(port), timeout=30)
    raw = json.dumps(body).encode() if body is not None else None
    connection.request(method, path, body=raw, headers=headers or {})
    response = connection.getresponse()
    payload = response.read()
    if own:
        connection.close()
    return response.status, payload, response


@pytest.fixture(scope="module")
def served(taxi_config, two_span_runs, tmp_path_factory):
    from ml_lifecycle.config.serving import AdminConfig, RolloutConfig, ServingConfig

    work = tmp_path_factory.mktemp("serving-workers")
    serving = ServingConfig(
        port=0,
        workers=2,
        admin=AdminConfig(port=0),
        poll_seconds=0.5,
        drain_seconds=10,
        rollout=RolloutConfig(on_new_version="hold", state_poll_seconds=STATE_POLL_S),
    )
    config, versions = serving_project(taxi_config, work, serving)
    config_file = work / "lifecycle.yaml"
    config_file.write_text(yaml.safe_dump(config.model_dump(by_alias=True, mode="json")))
    process, urls, output = _start(config_file)
    yield process, urls, config, config_file, versions, output
    if process.poll() is None:
        process.kill()
        process.wait(30)


def _start(config_file: Path):
    """`lifecycle serve` from `config_file`, once it says where it serves: (process, urls, output)."""
    process = subprocess.Popen(
        [LIFECYCLE, "--config", str(config_file), "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    output: list[str] = []
    urls: dict[str, str] = {}
    deadline = time.monotonic() + 300
    while "admin" not in urls and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        output.append(line)
        if match := re.search(r"serving on (http://\S+)", line):
            urls["serving"] = match[1]
        if match := re.search(r"admin \(lifecycle rollout\) on (http://\S+)", line):
            urls["admin"] = match[1]
    assert "admin" in urls, "".join(output)
    # Keep draining the server's output so it never blocks on a full pipe.
    threading.Thread(target=lambda: output.extend(process.stdout), daemon=True).start()
    return process, urls, output


def _answering(url: str, rows: list[dict], attempts: int) -> dict[str, set[str]]:
    """Worker -> the versions it answered with, one new connection per request."""
    seen: dict[str, set[str]] = {}
    for index in range(attempts):
        status, payload, response = _request(
            url, "POST", "/v1/models/taxi:predict", {"instances": rows}, {"X-Routing-Key": f"k{index}"}
        )
        assert status == 200, payload
        seen.setdefault(response.getheader("X-Worker"), set()).add(response.getheader("X-Model-Version"))
    return seen


def test_both_workers_answer_and_follow_a_rollout_change(served):
    process, urls, config, config_file, (old, new), output = served
    rows = _rows(config, 3)
    before = _answering(urls["serving"], rows, 80)
    assert set(before) == {"0", "1"} and all(versions == {str(new)} for versions in before.values())
    change = subprocess.run(
        [LIFECYCLE, "--config", str(config_file), "rollout", "--url", urls["admin"], "stable", str(old)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert change.returncode == 0, change.stdout + change.stderr
    assert re.search(rf"stable\s+{old}\b", change.stdout)
    # Every worker re-reads the state every STATE_POLL_S; both versions are loaded already.
    time.sleep(4 * STATE_POLL_S)
    after = _answering(urls["serving"], rows, 80)
    assert set(after) == {"0", "1"} and all(versions == {str(old)} for versions in after.values()), after
    status, payload, _ = _request(urls["serving"], "GET", "/v1/admin/models/taxi/rollout")
    assert status == 404  # admin is not on the serving port
    back = subprocess.run(
        [LIFECYCLE, "--config", str(config_file), "rollout", "--url", urls["admin"], "stable", str(new)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert back.returncode == 0, back.stderr


def _requests_total(text: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("lifecycle_serving_requests_total{") and 'model="taxi"' in line
    )


def test_metrics_add_up_across_workers(served):
    process, urls, config, *_ = served
    rows = _rows(config, 2)
    time.sleep(1.5)  # every worker has published what it counted so far
    _, payload, _ = _request(urls["serving"], "GET", "/monitoring/prometheus/metrics")
    start = _requests_total(payload.decode())
    answered = _answering(urls["serving"], rows, 40)
    assert set(answered) == {"0", "1"}
    time.sleep(1.5)
    scrapes = {}
    for _ in range(30):
        _, payload, response = _request(urls["serving"], "GET", "/monitoring/prometheus/metrics")
        scrapes.setdefault(response.getheader("X-Worker"), set()).add(_requests_total(payload.decode()))
    # Whichever worker answers the scrape counts every worker's requests.
    assert set(scrapes) == {"0", "1"} and all(totals == {start + 40} for totals in scrapes.values()), scrapes


def test_sigterm_under_load_drains_and_flushes_the_logs(served):
    from ml_lifecycle.serving.observability.prediction_log import read_prediction_logs

    process, urls, config, *_, output = served
    rows = _rows(config, 4)
    log_dir = config.serving.logging.resolve_directory(config.work_dir)
    logged_before = sum(1 for _ in read_prediction_logs(log_dir))
    statuses: list[int] = []
    stop = threading.Event()

    def load() -> None:
        host, port = urls["serving"].removeprefix("http://").rsplit(":", 1)
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        while not stop.is_set():
            try:
                status, _, _ = _request(
                    urls["serving"],
                    "POST",
                    "/v1/models/taxi:predict",
                    {"instances": rows},
                    connection=connection,
                )
            except (ConnectionError, http.client.HTTPException, OSError):
                # Closed between requests by the drain, or refused once the socket is closed:
                # the request was never read, so it has no answer to lose.
                connection.close()
                if stop.wait(0.05):
                    break
                connection = http.client.HTTPConnection(host, int(port), timeout=30)
                continue
            statuses.append(status)
        connection.close()

    threads = [threading.Thread(target=load) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(2.0)
    answered_before_signal = len(statuses)
    process.send_signal(signal.SIGTERM)
    code = process.wait(60)
    stop.set()
    for thread in threads:
        thread.join(30)
    assert code == 0, "".join(output[-30:])
    assert answered_before_signal > 20
    assert statuses and set(statuses) == {200}
    logged = sum(1 for _ in read_prediction_logs(log_dir)) - logged_before
    assert logged == len(statuses)


def _running(pid: int) -> bool:
    """The process exists and has not exited (an orphan's zombie waits for init to reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_workers_drain_and_free_the_port_when_the_supervisor_is_killed(served):
    _, _, config, config_file, *_ = served
    process, urls, output = _start(config_file)
    children = subprocess.run(
        ["pgrep", "-P", str(process.pid)], capture_output=True, text=True
    ).stdout.split()
    # The spawned workers (and multiprocessing's resource tracker, which ends with them).
    workers = [int(pid) for pid in children]
    assert len(workers) >= 2, children
    status, _, _ = _request(urls["serving"], "GET", "/v1/models/taxi")
    assert status == 200
    process.kill()  # kill -9: no drain, no SIGTERM to the workers
    process.wait(10)
    deadline = time.monotonic() + 30
    while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_running(pid) for pid in workers), "".join(output[-20:])
    with pytest.raises(OSError):
        _request(urls["serving"], "GET", "/v1/models/taxi")

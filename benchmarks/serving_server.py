"""`lifecycle --config <yaml> serve` as a subprocess, the way users start the server, for
`benchmarks/serving.py`.

`project_yaml` writes a project YAML from a loaded config (serving and admin on port 0, the
given worker count, its own work dir so prediction logs and rollout state of one server never
meet another's). `ServerProcess` starts the command, reads the "serving on http://..." and admin
lines from its output (and keeps draining the output so the server never blocks on a full
pipe), scrapes its Prometheus page, and stops it with SIGTERM, returning the exit code (0: it
drained and flushed its logs).
"""

from __future__ import annotations

import collections
import http.client
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

LIFECYCLE = Path(sys.executable).with_name("lifecycle")
START_TIMEOUT_S = 300.0
# Beyond serving.drain_seconds: the supervisor joins its workers, then the interpreter exits.
STOP_MARGIN_S = 30.0
OUTPUT_LINES_KEPT = 40
METRICS_PATH = "/monitoring/prometheus/metrics"


def project_yaml(config, work: Path, serving_root: Path, workers: int, log_sample_rate: float | None) -> Path:
    """A project YAML serving `serving_root` with `workers` workers (0: one per core) from `work`."""
    serving = config.serving.model_copy(
        update={
            "port": 0,
            "workers": workers,
            "admin": config.serving.admin.model_copy(update={"port": 0}),
        }
    )
    if log_sample_rate is not None:
        serving = serving.model_copy(
            update={"logging": serving.logging.model_copy(update={"sample_rate": log_sample_rate})}
        )
    served = config.model_copy(
        update={
            "work_dir": str(work),
            "serving_root": str(serving_root),
            "data_root": str(config.data_root_path),
            "serving": serving,
        }
    )
    work.mkdir(parents=True, exist_ok=True)
    path = work / "lifecycle.yaml"
    path.write_text(yaml.safe_dump(served.model_dump(by_alias=True, mode="json")))
    return path


class ServerProcess:
    """One `lifecycle serve` subprocess: `start()` until it serves, `stop()` with SIGTERM."""

    def __init__(self, config_file: Path, drain_seconds: float) -> None:
        if not LIFECYCLE.exists():
            raise SystemExit(f"{LIFECYCLE} not found: install the package into this venv (make setup)")
        self.config_file = config_file
        self.drain_seconds = drain_seconds
        self.url = ""
        self.admin_url = ""
        self.workers = 0
        self.output: collections.deque[str] = collections.deque(maxlen=OUTPUT_LINES_KEPT)
        self.start_seconds = 0.0
        self._process: subprocess.Popen | None = None

    def start(self) -> ServerProcess:
        started = time.monotonic()
        self._process = subprocess.Popen(
            [str(LIFECYCLE), "--config", str(self.config_file), "serve"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        )
        while not self.admin_url and time.monotonic() - started < START_TIMEOUT_S:
            line = self._process.stdout.readline()
            if not line:
                break
            self.output.append(line)
            if match := re.search(r"(\d+) worker\(s\) serving on (http://\S+)", line):
                self.workers, self.url = int(match[1]), match[2]
            if match := re.search(r"admin \(lifecycle rollout\) on (http://\S+)", line):
                self.admin_url = match[1]
        if not (self.url and self.admin_url):
            self._process.kill()
            self._process.wait(30)
            raise SystemExit(
                f"`lifecycle serve` did not start within {START_TIMEOUT_S:.0f} s:\n" + "".join(self.output)
            )
        self.start_seconds = time.monotonic() - started
        threading.Thread(target=self._drain_output, daemon=True).start()
        return self

    def _drain_output(self) -> None:
        for line in self._process.stdout:
            self.output.append(line)

    def metrics(self) -> dict[str, float]:
        """The Prometheus page's unlabelled lifecycle_serving_* samples and the prediction-log
        outcomes (`prediction_log_records:<outcome>`), summed over the workers by the server."""
        host, port = self.url.removeprefix("http://").rsplit(":", 1)
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            connection.request("GET", METRICS_PATH)
            text = connection.getresponse().read().decode()
        finally:
            connection.close()
        samples: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith("#") or not line.startswith("lifecycle_serving_"):
                continue
            name, _, value = line.rpartition(" ")
            if match := re.fullmatch(
                r'lifecycle_serving_prediction_log_records_total\{outcome="(\w+)"\}', name
            ):
                samples[f"prediction_log_records:{match[1]}"] = float(value)
            elif "{" not in name:
                samples[name.removeprefix("lifecycle_serving_")] = float(value)
        return samples

    def stop(self) -> int:
        """SIGTERM, then the exit code (killed after drain_seconds + a margin: -9)."""
        process = self._process
        if process is None:
            return 0
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(self.drain_seconds + STOP_MARGIN_S)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait(30)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(30)

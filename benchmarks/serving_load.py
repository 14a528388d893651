"""Load generation for `benchmarks/serving.py`: client processes of keep-alive HTTP/1.1 threads.

A concurrency is spread over several client processes (`spread`): on a 2-core machine a single
Python client process spends its GIL on http.client and starts queueing its own requests, which
would show up as server latency. Each client process (`client_main`, run as
`python -m benchmarks.serving --client ...`) opens one keep-alive connection per thread, warms
them up, says "ready" on stdout and waits for "go" on stdin, so every process starts its timed
requests together; then it prints one JSON line: the latency of each answered request, the
failures (every non-200 answer and every connection error; the connection is reopened and the
load goes on), which worker answered (`X-Worker`), its CPU time and its monotonic start and end.
`run_load` merges the processes into one measurement: CLOCK_MONOTONIC is shared by every process
on the machine, so the wall time is the latest end minus the earliest start.

Imports only the standard library: client processes must not load TensorFlow.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WARMUP_PER_THREAD = 5
REQUEST_TIMEOUT_S = 60.0
FAILURE_SAMPLES = 5
# Threads per client process past which one process's GIL costs more than its connections give.
THREADS_PER_PROCESS = 8
MAX_CLIENT_PROCESSES = 4


def spread(concurrency: int) -> tuple[int, int]:
    """(processes, threads per process) for a concurrency: 1 -> 1x1, 8 -> 2x4, 32 -> 4x8."""
    if concurrency <= 2:
        return 1, concurrency
    processes = min(MAX_CLIENT_PROCESSES, max(2, -(-concurrency // THREADS_PER_PROCESS)))
    while concurrency % processes:
        processes -= 1
    return processes, concurrency // processes


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


# -- in a client process -------------------------------------------------------------------------


class _Tally:
    """One thread's outcomes (merged by the process once every thread is done)."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.failures = 0
        self.samples: list[str] = []
        self.workers: Counter[str] = Counter()

    def fail(self, what: str) -> None:
        self.failures += 1
        if len(self.samples) < FAILURE_SAMPLES:
            self.samples.append(what[:200])


def _post(connection: http.client.HTTPConnection, path: str, body: bytes, tally: _Tally) -> None:
    started = time.perf_counter()
    try:
        connection.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        payload = response.read()
    except (OSError, http.client.HTTPException) as error:
        # The next request() reconnects: a dropped connection is one failure, not the end of the load.
        connection.close()
        tally.fail(f"{type(error).__name__}: {error}")
        return
    elapsed = time.perf_counter() - started
    if response.status != 200:
        tally.fail(f"HTTP {response.status}: {payload[:160].decode(errors='replace')}")
        return
    tally.latencies.append(elapsed)
    tally.workers[response.getheader("X-Worker") or "-"] += 1


def shares(total: int, parts: int) -> list[int]:
    """`total` split into `parts` counts that differ by at most one."""
    return [total // parts + (index < total % parts) for index in range(parts)]


def client_main(url: str, path: str, body_file: str, threads: int, requests: int) -> None:
    """One client process (see the module doc); prints its JSON result on stdout."""
    body = Path(body_file).read_bytes()
    host, port = url.removeprefix("http://").rsplit(":", 1)
    warm = [_Tally() for _ in range(threads)]
    timed = [_Tally() for _ in range(threads)]
    warmed = threading.Barrier(threads + 1)
    go = threading.Barrier(threads + 1)
    per_thread = shares(requests, threads)

    def run(index: int) -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=REQUEST_TIMEOUT_S)
        for _ in range(WARMUP_PER_THREAD):
            _post(connection, path, body, warm[index])
        warmed.wait()
        go.wait()
        for _ in range(per_thread[index]):
            _post(connection, path, body, timed[index])
        connection.close()

    workers = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(threads)]
    for worker in workers:
        worker.start()
    warmed.wait()
    print("ready", flush=True)
    sys.stdin.readline()
    cpu_started, started = time.process_time(), time.monotonic()
    go.wait()
    for worker in workers:
        worker.join()
    ended, cpu = time.monotonic(), time.process_time() - cpu_started
    result = {
        "latencies": [round(x, 7) for tally in timed for x in tally.latencies],
        "failures": sum(t.failures for t in timed),
        "samples": [s for t in timed for s in t.samples][:FAILURE_SAMPLES],
        "warmup_failures": sum(t.failures for t in warm),
        "workers": dict(sum((t.workers for t in timed), Counter())),
        "started": started,
        "ended": ended,
        "cpu_s": cpu,
    }
    print(json.dumps(result), flush=True)


# -- in the benchmark process --------------------------------------------------------------------


def run_load(url: str, path: str, body: bytes, concurrency: int, requests: int, rows: int) -> dict:
    """`requests` POSTs of `body` (`rows` rows each) at `concurrency`, from client processes.

    Returns p50/p99 latency (answered requests), req/s and rows/s (answered requests over the
    wall time), the request and failure counts, which workers answered, the load's shape and the
    cores the clients themselves used. Failures are counted, never raised.
    """
    processes, threads = spread(concurrency)
    requests = max(requests, concurrency)  # every connection sends at least one timed request
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        handle.write(body)
    clients: list[subprocess.Popen] = []
    try:
        for share in shares(requests, processes):
            clients.append(
                subprocess.Popen(
                    # As a module: run as a file, benchmarks/serving.py would shadow `serving`.
                    [sys.executable, "-m", "benchmarks.serving", "--client", url, path, handle.name]
                    + [str(threads), str(share)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    cwd=REPO,
                )
            )
        for client in clients:
            if client.stdout.readline().strip() != "ready":
                raise SystemExit(f"a benchmark client process did not start: {client.communicate()[1]}")
        for client in clients:
            client.stdin.write("go\n")
            client.stdin.flush()
        results = []
        for client in clients:
            out, err = client.communicate()
            if client.returncode != 0:
                raise SystemExit(f"a benchmark client process failed ({client.returncode}): {err}")
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for client in clients:
            if client.poll() is None:
                client.kill()
                client.wait()
        os.unlink(handle.name)
    return _merge(results, concurrency, f"{processes}x{threads}", rows)


def _merge(results: list[dict], concurrency: int, load: str, rows: int) -> dict:
    """One measurement from the client processes' results."""
    latencies = [x for r in results for x in r["latencies"]]
    wall = max(r["ended"] for r in results) - min(r["started"] for r in results)
    workers: Counter[str] = Counter()
    for r in results:
        workers.update(r["workers"])
    return {
        "p50_ms": percentile(latencies, 50) * 1000 if latencies else float("nan"),
        "p99_ms": percentile(latencies, 99) * 1000 if latencies else float("nan"),
        "rps": len(latencies) / wall,
        "rows_per_s": len(latencies) * rows / wall,
        # What the clients sent: every request is either answered (200) or a failure.
        "requests": len(latencies) + sum(r["failures"] for r in results),
        "answered": len(latencies),
        "failures": sum(r["failures"] for r in results),
        "failure_samples": [s for r in results for s in r["samples"]][:FAILURE_SAMPLES],
        "warmup_failures": sum(r["warmup_failures"] for r in results),
        "workers": dict(sorted(workers.items())),
        "load": load,
        "concurrency": concurrency,
        "client_cores": sum(r["cpu_s"] for r in results) / wall,
    }

"""The model server against the same SavedModel called in-process, in one run (issue 12).

Loads a pushed taxi model version and times its raw-feature signature in-process (single rows
and batches of 256, one thread and 8 threads; the in-process limit is the most rows/s of those).
Then starts the real server the way users do, `lifecycle --config <yaml> serve` as a subprocess,
first with `serving.workers: 1`, then with the default (0: one per core), and drives each from
client processes (keep-alive HTTP/1.1, JSON rows from span 1; `serving_load.py` says how a
concurrency is spread over processes) at concurrency 1, 8 and 32 with single rows and 256-row
requests, plus 256 rows as TF Serving columns (`{"inputs": {...}}`) at c=8. Each server is
stopped with SIGTERM and must exit 0. Prints a table for the README, the ratios and the targets:

1. 256-row requests at c=8 (best of rows and columns, default workers) >= 0.6x the in-process limit;
2. single-row p50 overhead (HTTP c=1 minus in-process 1 thread) <= 1 ms, default workers;
3. 0 failed of 20,000 single-row requests at c=32, default workers (every non-200 answer and
   every connection error is a failure).

    .venv/bin/python -m benchmarks.serving [--model-dir <serving_root>/<model>/<version>]
        [--requests N] [--c32-requests N] [--log-sample-rate R]

--requests: single-row requests per measurement (default 2000; 256-row measurements send a
quarter as many); --c32-requests: the default-workers server's single-row c=32 run (default
20,000; the workers: 1 server sends --requests there). Without --model-dir, prepares the taxi
spans and runs span 1 in a temporary work dir (~1-2 min) and serves what it pushes. The default
run takes about 5 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

# Standard library and PyYAML only: the client processes import this module too.
from benchmarks.serving_load import client_main, percentile, run_load
from benchmarks.serving_report import BATCH_ROWS, report
from benchmarks.serving_server import ServerProcess, project_yaml

C32_REQUESTS = 20_000
# Server worker counts in the order they are measured; 0 is the default, one per core.
WORKER_SETTINGS = (1, 0)


def _drive(call, concurrency: int, requests: int, rows: int) -> dict:
    """Runs `call()` `requests` times over `concurrency` threads in this process; latency of each."""
    per_thread = max(1, requests // concurrency)
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    barrier = threading.Barrier(concurrency + 1)

    def worker(index: int) -> None:
        barrier.wait()
        for _ in range(per_thread):
            started = time.perf_counter()
            call()
            latencies[index].append(time.perf_counter() - started)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    flat = [x for chunk in latencies for x in chunk]
    return {
        "p50_ms": percentile(flat, 50) * 1000,
        "p99_ms": percentile(flat, 99) * 1000,
        "rps": len(flat) / wall,
        "rows_per_s": len(flat) * rows / wall,
        "load": f"{concurrency} thread{'s' if concurrency > 1 else ''}",
    }


# -- setup ---------------------------------------------------------------------------------------


def _pushed_model(work: Path, repo: Path) -> tuple[Path, object]:
    from ml_lifecycle.config.project import load_config
    from ml_lifecycle.datasets.prepare import prepare_spans
    from ml_lifecycle.pipeline.runners.local import run_span

    config = load_config(repo / "lifecycle.yaml", {"work_dir": str(work)})
    prepare_spans(config.dataset, config.data_root_path)
    outcome = run_span(config, 1, progress=lambda _: None)
    if outcome.error:
        raise SystemExit(f"span 1 failed: {outcome.error}")
    model_root = config.serving_root_path / config.serving_model_name
    return max((p for p in model_root.iterdir() if p.name.isdigit()), key=lambda p: int(p.name)), config


def _rows(config, count: int) -> list[dict]:
    features = config.dataset.features
    kinds = {name: float for name in features.numeric + features.bucketized}
    kinds.update({name: int for name in features.categorical_int})
    kinds.update({name: str for name in features.categorical_string})
    path = config.data_root_path / "span-1" / "data.csv"
    if not path.exists():
        from ml_lifecycle.datasets.prepare import prepare_spans

        prepare_spans(config.dataset, config.data_root_path)
    with open(path, newline="") as handle:
        source = list(csv.DictReader(handle))
    rows = []
    while len(rows) < count:
        for row in source[: count - len(rows)]:
            rows.append(
                {n: (int(float(v)) if k is int else k(v)) for n, k in kinds.items() if (v := row[n]) != ""}
            )
    return rows


# -- the measurements ----------------------------------------------------------------------------


def _in_process(model_dir: Path, config, rows: list[dict], requests: int) -> tuple[dict, dict]:
    """The raw signature called in this process; and, for reference only, one merged batch."""
    from ml_lifecycle.base.contracts import RAW_SIGNATURE
    from ml_lifecycle.serving.inference.warmup import load_version
    from ml_lifecycle.serving.protocol.requests import decode_predict
    from ml_lifecycle.serving.protocol.values import FeatureRules

    servable = load_version(config.serving_model_name, 1, model_dir)
    rules = FeatureRules(ignored=frozenset({config.dataset.label.name}))

    def columns_of(selected):
        return decode_predict({"instances": selected}, servable, rules).columns

    single, batch = columns_of(rows[:1]), columns_of(rows)
    results = {}
    for threads in (1, 8):
        results[("in-process, 1 row", threads)] = _drive(
            lambda: servable.run(RAW_SIGNATURE, single), threads, requests, 1
        )
    for threads in (1, 8):
        results[(f"in-process, {BATCH_ROWS} rows", threads)] = _drive(
            lambda: servable.run(RAW_SIGNATURE, batch), threads, max(threads, requests // 4), BATCH_ROWS
        )
    # Not part of the reference: what the model gives at the size the server's batcher merges
    # concurrent 256-row requests into (serving.batching.max_batch_rows), to explain its share.
    merged_rows = config.serving.batching.max_batch_rows
    merged = columns_of((rows * -(-merged_rows // BATCH_ROWS))[:merged_rows])
    merged_result = _drive(
        lambda: servable.run(RAW_SIGNATURE, merged),
        8,
        max(8, requests * BATCH_ROWS // 4 // merged_rows),
        merged_rows,
    )
    merged_result["rows"] = merged_rows
    return results, merged_result


def _bodies(rows: list[dict]) -> dict[str, tuple[bytes, int]]:
    names = sorted({name for row in rows for name in row})
    return {
        "1 row": (json.dumps({"instances": rows[:1]}).encode(), 1),
        f"{BATCH_ROWS} rows": (json.dumps({"instances": rows}).encode(), BATCH_ROWS),
        # TF Serving's columnar format: one list per feature, no per-row objects to walk.
        f"{BATCH_ROWS} rows as columns": (
            json.dumps({"inputs": {n: [row.get(n) for row in rows] for n in names}}).encode(),
            BATCH_ROWS,
        ),
    }


def _http_plan(requests: int, c32_requests: int) -> list[tuple[str, int, int]]:
    """(body, concurrency, requests) for each server, in order."""
    batches = max(32, requests // 4)
    return [
        ("1 row", 1, requests),
        ("1 row", 8, requests),
        ("1 row", 32, c32_requests),
        (f"{BATCH_ROWS} rows", 1, batches),
        (f"{BATCH_ROWS} rows", 8, batches),
        (f"{BATCH_ROWS} rows as columns", 8, batches),
        (f"{BATCH_ROWS} rows", 32, batches),
    ]


def _serve_and_measure(config, work, serving_root, workers, bodies, plan, args) -> dict:
    """One server: started, measured, scraped, stopped. Returns its results and facts."""
    config_file = project_yaml(
        config, work / f"server-workers-{workers}", serving_root, workers, args.log_sample_rate
    )
    path = f"/v1/models/{config.serving_model_name}:predict"
    results = {}
    with ServerProcess(config_file, config.serving.drain_seconds) as server:
        for body_name, concurrency, count in plan:
            body, rows = bodies[body_name]
            results[(f"HTTP, {body_name}, c={concurrency}", concurrency)] = run_load(
                server.url, path, body, concurrency, count, rows
            )
        # Each worker publishes its counters about once a second, a single process its log
        # stats every serving.poll_seconds: wait for both before the scrape.
        time.sleep(config.serving.poll_seconds + 1.5)
        metrics = server.metrics()
        exit_code = server.stop()
        output = list(server.output)
    return {
        "workers": server.workers,
        "results": results,
        "metrics": metrics,
        "exit_code": exit_code,
        "start_seconds": server.start_seconds,
        "output": output,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default=None, help="a pushed version directory to serve")
    parser.add_argument(
        "--requests", type=int, default=2000, help="single-row requests per measurement (256-row: a quarter)"
    )
    parser.add_argument(
        "--c32-requests", type=int, default=C32_REQUESTS, help="single-row requests at concurrency 32"
    )
    parser.add_argument("--log-sample-rate", type=float, default=None, help="serving.logging.sample_rate")
    parser.add_argument("--client", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        url, path, body_file, threads, requests = args.client
        client_main(url, path, body_file, int(threads), int(requests))
        return 0
    if args.requests < 8 or args.c32_requests < 32:
        parser.error("--requests must be >= 8 and --c32-requests >= 32 (one request per thread at least)")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    # Importing ml_lifecycle selects tf-keras (ml_lifecycle.TENSORFLOW_ENV) before TensorFlow loads.
    from ml_lifecycle.config.project import load_config

    repo = Path(__file__).resolve().parents[1]
    work = Path(tempfile.mkdtemp(prefix="serving-bench-"))
    seconds: dict[str, float] = {}
    started = time.monotonic()
    try:
        if args.model_dir:
            model_dir = Path(args.model_dir).resolve()
            config = load_config(repo / "lifecycle.yaml", {"work_dir": str(work)})
        else:
            model_dir, config = _pushed_model(work, repo)
            seconds["span-1 pipeline"] = time.monotonic() - started
        rows = _rows(config, BATCH_ROWS)
        started = time.monotonic()
        in_process, merged = _in_process(model_dir, config, rows, args.requests)
        seconds["in-process"] = time.monotonic() - started
        # The servers serve a copy as version 1, so --model-dir may be any pushed version.
        serving_root = work / "bench-serving"
        shutil.copytree(model_dir, serving_root / config.serving_model_name / "1")
        bodies = _bodies(rows)
        servers = []
        for workers in WORKER_SETTINGS:
            # The failure target is the default's: workers: 1 sends --requests at c=32 as well.
            plan = _http_plan(args.requests, args.c32_requests if workers == 0 else args.requests)
            started = time.monotonic()
            servers.append(_serve_and_measure(config, work, serving_root, workers, bodies, plan, args))
            seconds[f"server workers={servers[-1]['workers']}"] = time.monotonic() - started
    finally:
        shutil.rmtree(work, ignore_errors=True)
    sys.stdout.flush()
    return 0 if report(model_dir, in_process, merged, servers, args.c32_requests, seconds) else 1


if __name__ == "__main__":
    raise SystemExit(main())

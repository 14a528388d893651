"""The model server's cost over calling the same SavedModel in-process.

In one run: loads a pushed model version, times its raw-feature signature in-process (single rows,
batches of 256; one thread and 8 threads), then starts the HTTP server on that version and drives
it from a separate client process (keep-alive HTTP/1.1, JSON rows from a real span) at concurrency
1 and 8. Prints p50/p99 latency, requests and rows per second, and the ratios. Targets (issue 5):
HTTP overhead over the in-process call <= 2 ms at p50 (single row); throughput at concurrency 8
>= 0.5x the in-process limit (batches of 256: the most rows/s the model gives in-process).

    .venv/bin/python -m benchmarks.serving [--model-dir <serving_root>/<model>/<version>]
        [--requests N] [--log-sample-rate R]

Without --model-dir, prepares the taxi spans and runs span 1 in a temporary work dir (~1 min)
and serves what it pushes.
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BATCH_ROWS = 256
OVERHEAD_TARGET_MS = 2.0
THROUGHPUT_TARGET = 0.5


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def _summary(latencies_s: list[float], wall_s: float, rows_per_request: int) -> dict:
    return {
        "p50_ms": _percentile(latencies_s, 50) * 1000,
        "p99_ms": _percentile(latencies_s, 99) * 1000,
        "rps": len(latencies_s) / wall_s,
        "rows_per_s": len(latencies_s) * rows_per_request / wall_s,
    }


def _drive(call, concurrency: int, requests: int, rows: int) -> dict:
    """Runs `call()` `requests` times spread over `concurrency` threads; latency of each call."""
    per_thread = max(1, requests // concurrency)
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    barrier = threading.Barrier(concurrency + 1)

    def worker(index: int) -> None:
        do = call()
        barrier.wait()
        for _ in range(per_thread):
            started = time.perf_counter()
            do()
            latencies[index].append(time.perf_counter() - started)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    return _summary([x for chunk in latencies for x in chunk], wall, rows)


# -- the client process --------------------------------------------------------------------------


def _client(url: str, body_file: str, concurrency: int, requests: int, rows: int) -> None:
    body = Path(body_file).read_bytes()
    host, port = url.removeprefix("http://").split(":")
    failures = []

    def call():
        connection = http.client.HTTPConnection(host, int(port), timeout=60)

        def do():
            connection.request(
                "POST", "/v1/models/taxi:predict", body=body, headers={"Content-Type": "application/json"}
            )
            response = connection.getresponse()
            payload = response.read()
            if response.status != 200:
                failures.append(payload[:200].decode())

        return do

    _drive(call, concurrency, min(requests, 50), rows)  # warm connections and the server's paths
    result = _drive(call, concurrency, requests, rows)
    result["failures"] = len(failures)
    print(json.dumps(result))


def _http(url: str, body: bytes, concurrency: int, requests: int, rows: int) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        handle.write(body)
    try:
        output = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.serving",  # as a module: run as a file, this file would shadow `serving`
                "--client",
                url,
                handle.name,
                str(concurrency),
                str(requests),
                str(rows),
            ],
            check=True,
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parents[1],
        ).stdout
    finally:
        os.unlink(handle.name)
    result = json.loads(output.strip().splitlines()[-1])
    if result["failures"]:
        raise SystemExit(f"{result['failures']} HTTP requests failed")
    return result


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
    return max(model_root.iterdir(), key=lambda p: int(p.name)), config


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default=None, help="a pushed version directory to serve")
    parser.add_argument("--requests", type=int, default=2000, help="single-row requests per measurement")
    parser.add_argument("--log-sample-rate", type=float, default=None, help="serving.logging.sample_rate")
    parser.add_argument("--client", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        url, body_file, concurrency, requests, rows = args.client
        _client(url, body_file, int(concurrency), int(requests), int(rows))
        return 0
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    # Importing ml_lifecycle selects tf-keras (ml_lifecycle.TENSORFLOW_ENV) before TensorFlow loads.
    from ml_lifecycle.base.contracts import RAW_SIGNATURE
    from ml_lifecycle.config.project import load_config
    from ml_lifecycle.config.serving import ServingConfig
    from ml_lifecycle.serving.http.api import ServedModel, ServingServices
    from ml_lifecycle.serving.http.server import ModelServer
    from ml_lifecycle.serving.inference.repository import ModelRepository
    from ml_lifecycle.serving.inference.warmup import load_version
    from ml_lifecycle.serving.protocol.requests import decode_predict
    from ml_lifecycle.serving.protocol.values import FeatureRules
    from ml_lifecycle.serving.router import Router

    repo = Path(__file__).resolve().parents[1]
    work = Path(tempfile.mkdtemp(prefix="serving-bench-"))
    try:
        if args.model_dir:
            model_dir = Path(args.model_dir).resolve()
            config = load_config(repo / "lifecycle.yaml", {"work_dir": str(work)})
        else:
            model_dir, config = _pushed_model(work, repo)
        rows = _rows(config, BATCH_ROWS)
        servable = load_version("taxi", 1, model_dir)
        rules = FeatureRules(ignored=frozenset({config.dataset.label.name}))

        def columns_of(selected):
            return decode_predict({"instances": selected}, servable, rules).columns

        single, batch = columns_of(rows[:1]), columns_of(rows)
        requests = args.requests
        results = {}
        results["in-process 1 row c=1"] = _drive(
            lambda: lambda: servable.run(RAW_SIGNATURE, single), 1, requests, 1
        )
        results["in-process 1 row c=8"] = _drive(
            lambda: lambda: servable.run(RAW_SIGNATURE, single), 8, requests, 1
        )
        results[f"in-process {BATCH_ROWS} rows c=1"] = _drive(
            lambda: lambda: servable.run(RAW_SIGNATURE, batch), 1, requests // 10, BATCH_ROWS
        )
        results[f"in-process {BATCH_ROWS} rows c=8"] = _drive(
            lambda: lambda: servable.run(RAW_SIGNATURE, batch), 8, requests // 10, BATCH_ROWS
        )

        # Not part of the reference: what the model gives at the size the server's batcher merges
        # concurrent 256-row requests into (serving.batching.max_batch_rows), to explain its share.
        merged_rows = ServingConfig(port=0).batching.max_batch_rows
        merged = columns_of((rows * -(-merged_rows // BATCH_ROWS))[:merged_rows])
        merged_result = _drive(
            lambda: lambda: servable.run(RAW_SIGNATURE, merged),
            8,
            max(8, requests * BATCH_ROWS // 10 // merged_rows),
            merged_rows,
        )

        serving_root = work / "bench-serving" / "taxi"
        serving_root.mkdir(parents=True)
        shutil.copytree(model_dir, serving_root / "1")
        serving = ServingConfig(port=0)
        if args.log_sample_rate is not None:
            serving = serving.model_copy(
                update={"logging": serving.logging.model_copy(update={"sample_rate": args.log_sample_rate})}
            )
        from ml_lifecycle.datasets.schema_file import read_schema
        from ml_lifecycle.serving.observability.monitor import Monitor
        from ml_lifecycle.serving.observability.prediction_log import PredictionLogWriter

        schema = read_schema(config.dataset.resolve_schema())
        services = ServingServices(
            monitor=Monitor(serving.monitoring, schema),
            prediction_log=PredictionLogWriter(serving.logging, work / "prediction_logs"),
            monitor_rows_per_request=serving.monitor_rows_per_request,
        )
        served = ServedModel(
            ModelRepository("taxi", serving_root, serving.version_policy), Router("taxi", None), rules
        )
        server = ModelServer(serving, {"taxi": served}, services, "127.0.0.1", 0).start()
        try:
            one_body = json.dumps({"instances": rows[:1]}).encode()
            batch_body = json.dumps({"instances": rows}).encode()
            results["HTTP 1 row c=1"] = _http(server.url, one_body, 1, requests, 1)
            results["HTTP 1 row c=8"] = _http(server.url, one_body, 8, requests, 1)
            results[f"HTTP {BATCH_ROWS} rows c=1"] = _http(
                server.url, batch_body, 1, requests // 10, BATCH_ROWS
            )
            results[f"HTTP {BATCH_ROWS} rows c=8"] = _http(
                server.url, batch_body, 8, requests // 10, BATCH_ROWS
            )
            # TF Serving's columnar format: one list per feature, no per-row objects to walk.
            names = sorted({name for row in rows for name in row})
            columns_body = json.dumps({"inputs": {n: [row.get(n) for row in rows] for n in names}}).encode()
            results[f"HTTP {BATCH_ROWS} columns c=8"] = _http(
                server.url, columns_body, 8, requests // 10, BATCH_ROWS
            )
            log_stats = services.prediction_log.stats()
            batches = (server.batcher.batches, server.batcher.batched_calls) if server.batcher else (0, 0)
        finally:
            server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"serving benchmark: model {model_dir}, {os.cpu_count()} cores, client in a separate process")
    print(f"{'measurement':<28} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>9} {'rows/s':>10}")
    for name, result in results.items():
        print(
            f"{name:<28} {result['p50_ms']:8.2f} {result['p99_ms']:8.2f} {result['rps']:9.0f} "
            f"{result['rows_per_s']:10.0f}"
        )
    overhead = results["HTTP 1 row c=1"]["p50_ms"] - results["in-process 1 row c=1"]["p50_ms"]
    limit = max(r["rows_per_s"] for name, r in results.items() if name.startswith("in-process"))
    best_http = max(
        r["rows_per_s"] for name, r in results.items() if name.startswith("HTTP") and "c=8" in name
    )
    single_ratio = results["HTTP 1 row c=8"]["rows_per_s"] / results["in-process 1 row c=8"]["rows_per_s"]
    print(
        f"HTTP overhead at p50, 1 row: {overhead:.2f} ms (target <= {OVERHEAD_TARGET_MS} ms): "
        f"{'ok' if overhead <= OVERHEAD_TARGET_MS else 'TARGET MISSED'}"
    )
    print(
        f"throughput at c=8: {best_http:.0f} rows/s over HTTP vs in-process limit {limit:.0f} rows/s = "
        f"{best_http / limit:.2f}x (target >= {THROUGHPUT_TARGET}x): "
        f"{'ok' if best_http / limit >= THROUGHPUT_TARGET else 'TARGET MISSED'}"
    )
    print(
        f"single rows at c=8: HTTP / in-process = {single_ratio:.2f}x; batcher merged {batches[1]} "
        f"requests into {batches[0]} model calls"
    )
    print(
        f"for reference only: in-process {merged_rows} rows c=8 (the batcher's largest merge) "
        f"{merged_result['rows_per_s']:.0f} rows/s; best HTTP c=8 / that = "
        f"{best_http / merged_result['rows_per_s']:.2f}x"
    )
    print(f"prediction log: {log_stats}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

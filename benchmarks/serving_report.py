"""The report of `benchmarks/serving.py`: a Markdown table for the README, the ratios and the
targets of issue 12, judged on the default-workers server (the other is printed for comparison).

Results are keyed by (measurement name, concurrency); `in_process` values and each server's
`results` values are the dicts of `serving._drive` and `serving_load.run_load`.
"""

from __future__ import annotations

import os

BATCH_ROWS = 256
OVERHEAD_TARGET_MS = 1.0
THROUGHPUT_TARGET = 0.6

ROWS_C8 = (f"HTTP, {BATCH_ROWS} rows, c=8", 8)
COLUMNS_C8 = (f"HTTP, {BATCH_ROWS} rows as columns, c=8", 8)
SINGLE_C1 = ("HTTP, 1 row, c=1", 1)
SINGLE_C8 = ("HTTP, 1 row, c=8", 8)
SINGLE_C32 = ("HTTP, 1 row, c=32", 32)
IN_PROCESS_SINGLE_1 = ("in-process, 1 row", 1)
IN_PROCESS_SINGLE_8 = ("in-process, 1 row", 8)


def _verdict(ok: bool) -> str:
    return "ok" if ok else "TARGET MISSED"


def table(in_process: dict, servers: list[dict]) -> list[str]:
    lines = [
        "| measurement | workers | load | p50 ms | p99 ms | req/s | rows/s | failed | client cores |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for (name, _), r in in_process.items():
        lines.append(
            f"| {name}, {r['load']} | - | in-process | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
            f"{r['rps']:,.0f} | {r['rows_per_s']:,.0f} | - | - |"
        )
    for server in servers:
        for (name, _), r in server["results"].items():
            lines.append(
                f"| {name} | {server['workers']} | {r['load']} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
                f"{r['rps']:,.0f} | {r['rows_per_s']:,.0f} | {r['failures']} of {r['requests']:,} | "
                f"{r['client_cores']:.2f} |"
            )
    return lines


def _best_batched(results: dict) -> float:
    return max(results[ROWS_C8]["rows_per_s"], results[COLUMNS_C8]["rows_per_s"])


def _server_lines(server: dict, in_process: dict, limit: float, c32_requests: int, judged: bool) -> list[str]:
    results = server["results"]
    best = _best_batched(results)
    overhead = results[SINGLE_C1]["p50_ms"] - in_process[IN_PROCESS_SINGLE_1]["p50_ms"]
    c32 = results[SINGLE_C32]
    none_failed = c32["failures"] == 0 and c32["requests"] >= c32_requests

    def verdict(ok: bool) -> str:
        return f": {_verdict(ok)}" if judged else ""

    lines = [
        f"workers {server['workers']}{' (default)' if judged else ''}: started in "
        f"{server['start_seconds']:.1f} s",
        f"  {BATCH_ROWS}-row requests at c=8 (best of rows/columns): {best:,.0f} rows/s vs in-process limit "
        f"{limit:,.0f} rows/s = {best / limit:.2f}x (target >= {THROUGHPUT_TARGET}x)"
        + verdict(best / limit >= THROUGHPUT_TARGET),
        f"  single-row p50 overhead over in-process (c=1): {overhead:.2f} ms (target <= "
        f"{OVERHEAD_TARGET_MS} ms)" + verdict(overhead <= OVERHEAD_TARGET_MS),
        f"  single rows at c=32: {c32['failures']} failed of {c32['requests']:,} (target 0 of "
        f"{c32_requests:,})" + verdict(none_failed),
    ]
    for (name, _), r in results.items():
        if r["failures"] or r["warmup_failures"]:
            lines.append(
                f"  {name}: {r['failures']} failed, {r['warmup_failures']} in warm-up; e.g. "
                f"{r['failure_samples']}"
            )
    single_ratio = results[SINGLE_C8]["rows_per_s"] / in_process[IN_PROCESS_SINGLE_8]["rows_per_s"]
    lines.append(
        f"  single rows at c=8: HTTP / in-process 8 threads = {single_ratio:.2f}x; answered per worker "
        f"(X-Worker) at c=32: {c32['workers']}"
    )
    counters = server["metrics"]
    log = {k: counters.get(f"prediction_log_records:{k}", 0) for k in ("written", "dropped", "errors")}
    lines.append(
        f"  server counters: batcher merged {counters.get('batched_requests_total', 0):,.0f} requests "
        f"into {counters.get('batches_total', 0):,.0f} model calls "
        f"({counters.get('batch_timeouts_total', 0):.0f} timed out); prediction log records written "
        f"{log['written']:,.0f}, dropped {log['dropped']:,.0f}, errors {log['errors']:,.0f}"
    )
    if server["exit_code"] == 0:
        lines.append("  SIGTERM: exit code 0")
    else:
        lines.append(
            f"  SIGTERM: exit code {server['exit_code']} (expected 0: SERVER FAILED); its last output:"
        )
        lines.extend(f"    {line.rstrip()}" for line in server["output"])
    return lines


def report(
    model_dir, in_process: dict, merged: dict, servers: list[dict], c32_requests: int, seconds: dict
) -> bool:
    """Prints everything; True when every server exited 0 on SIGTERM (targets only print a verdict).
    The last server is the default-workers one; `seconds` is each phase's wall time."""
    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    default = servers[-1]
    print(f"\nserving benchmark: model {model_dir}")
    print(f"machine: {cores} cores ({usable} usable); default serving.workers (0) = {default['workers']}")
    print(
        "load: 'load' = client processes x threads per process, one keep-alive HTTP/1.1 connection per "
        "thread (http.client), pre-encoded JSON bodies of span-1 rows; each process warms up, then all "
        "start their timed requests together. The clients share the cores with the server ('client "
        "cores': CPU the clients used over the wall time)."
    )
    print()
    for line in table(in_process, servers):
        print(line)
    print()
    limit = max(r["rows_per_s"] for r in in_process.values())
    print(f"in-process limit (most rows/s in-process): {limit:,.0f} rows/s")
    for server in servers:
        for line in _server_lines(server, in_process, limit, c32_requests, judged=server is default):
            print(line)
    print(
        f"for reference only: in-process {merged['rows']} rows, 8 threads (the batcher's largest merge) "
        f"{merged['rows_per_s']:,.0f} rows/s; best default-workers HTTP {BATCH_ROWS}-row c=8 / that = "
        f"{_best_batched(default['results']) / merged['rows_per_s']:.2f}x"
    )
    print("wall time: " + ", ".join(f"{phase} {value:.0f} s" for phase, value in seconds.items()))
    return all(server["exit_code"] == 0 for server in servers)

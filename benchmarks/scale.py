"""Beam throughput at scale: StatisticsGen (and Transform) with the in-memory and the
multi-processing DirectRunner on about a million rows.

The benchmark writes the data itself: every prepared taxi span, concatenated and repeated until
`--rows` rows (one CSV under a temp dir, span 1). Then, for each Beam mode, a child process runs
a small real TFX pipeline with LocalDagRunner and the project's own component settings:

    CsvExampleGen -> StatisticsGen (curated schema) [-> Transform, when --transform-rows]

StatisticsGen runs as the real component (not TFDV's `GenerateStatistics` alone): the ~1 s of
component overhead is small against ~25 s of Beam work, and it is what a pipeline pays.
Each component's seconds come from its MLMD execution (registered when it starts, updated when
it ends). Peak memory is the peak summed RSS of the child's whole process tree, sampled every
0.2 s from here: multi-processing workers are subprocesses. "Cores busy" is the tree's CPU
seconds during a step over the step's seconds: how much of the machine a mode really got.

Row counts: StatisticsGen's example counts (train + eval) must equal the rows written, and so
must the transformed examples' (multi-processing DirectRunner dropped rows for others:
data-validation#247). A mismatch fails the benchmark (exit 1).

Target: multi-processing >= 1.7x in-memory rows/s for StatisticsGen on 2 cores. A missed
target prints "TARGET MISSED" and still exits 0 (benchmarks report, they do not assert speed).
Other processes on the machine skew the numbers: the load average is printed with them.

    .venv/bin/python -m benchmarks.scale [--rows 1000000] [--transform-rows 200000] [--work-dir DIR]

Without --work-dir the data goes to a temp dir, removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

from ml_lifecycle import TENSORFLOW_ENV

HERE = Path(__file__).resolve()
REPO_ROOT = HERE.parents[1]
MODES = ("in_memory", "multi_processing")
RATIO_TARGET = 1.7
CHILD_ENV = {**TENSORFLOW_ENV, "TF_CPP_MIN_LOG_LEVEL": "2"}
SAMPLE_SECONDS = 0.2


@dataclass
class ModeResult:
    mode: str
    rows: int
    stats_seconds: float
    stats_rows_counted: int
    example_gen_seconds: float
    transform_rows: int = 0
    transform_seconds: float = 0.0
    transform_rows_counted: int = 0
    peak_rss_mb: float = 0.0
    wall_seconds: float = 0.0
    # Each step's [start, end] (epoch seconds, from MLMD) and the cores its process tree kept
    # busy then (CPU seconds / wall seconds): how much of the machine a mode actually used.
    windows: dict[str, list[float]] = field(default_factory=dict)
    cores_busy: dict[str, float] = field(default_factory=dict)


# ---------------------------------------------------------------- data


def write_rows(config, target_rows: int, out_csv: Path) -> int:
    """Every prepared span of the dataset, concatenated, repeated until `target_rows` rows."""
    from ml_lifecycle.datasets.prepare import prepare_spans

    spans_root = out_csv.parent.parent / "spans"
    spans = prepare_spans(config.dataset, spans_root)
    header, body = None, []
    for span in spans:
        lines = (spans_root / f"span-{span.span}" / "data.csv").read_text().splitlines()
        header = header or lines[0]
        body.extend(lines[1:])
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with out_csv.open("w") as out:
        out.write(header + "\n")
        while written < target_rows:
            chunk = body[: target_rows - written]
            out.write("\n".join(chunk) + "\n")
            written += len(chunk)
    return written


# ---------------------------------------------------------------- child: one mode, one pipeline


def _count_examples(uri: str) -> int:
    import tensorflow as tf

    files = tf.io.gfile.glob(os.path.join(uri, "Split-*", "*"))
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP", num_parallel_reads=2)
    return int(dataset.reduce(0, lambda count, _: count + 1).numpy())


def run_mode(mode: str, data_root: Path, work: Path, rows: int, with_transform: bool) -> ModeResult:
    """One tiny pipeline on span 1 with this Beam mode; fresh root and store, no cache."""
    from tfx.components import StatisticsGen, Transform
    from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner
    from tfx.orchestration.metadata import sqlite_metadata_connection_config
    from tfx.orchestration.pipeline import Pipeline

    from ml_lifecycle.base.contracts import ComponentId
    from ml_lifecycle.config.beam import BeamConfig
    from ml_lifecycle.config.project import load_config
    from ml_lifecycle.metadata.runs import examples_per_split
    from ml_lifecycle.models.features import custom_config_for
    from ml_lifecycle.pipeline.pipeline import example_gen_component
    from ml_lifecycle.store.connection import open_store
    from ml_lifecycle.store.queries import component_runs, list_run_ids

    config = load_config(REPO_ROOT / "lifecycle.yaml", {"work_dir": str(work), "data_root": str(data_root)})
    training = config.training
    example_gen = example_gen_component(config, 1)
    schema = ImportSchemaGen(schema_file=str(config.dataset.resolve_schema())).with_id(
        ComponentId.SCHEMA.value
    )
    statistics_gen = StatisticsGen(
        examples=example_gen.outputs["examples"], schema=schema.outputs["schema"]
    ).with_id(ComponentId.STATISTICS_GEN.value)
    components = [example_gen, schema, statistics_gen]
    if with_transform:
        components.append(
            Transform(
                examples=example_gen.outputs["examples"],
                schema=schema.outputs["schema"],
                preprocessing_fn="ml_lifecycle.models.preprocessing.preprocessing_fn",
                custom_config=custom_config_for(config.dataset, training),
                disable_statistics=True,
            ).with_id(ComponentId.TRANSFORM.value)
        )
    node_ids = [component.id for component in components]
    store_path = work / "metadata.sqlite"
    pipeline_name = f"scale-{mode}"
    pipeline = Pipeline(
        pipeline_name=pipeline_name,
        pipeline_root=str(work / "root"),
        components=components,
        enable_cache=False,
        metadata_connection_config=sqlite_metadata_connection_config(str(store_path)),
        beam_pipeline_args=BeamConfig(mode=mode).pipeline_args(rows),
    )
    LocalDagRunner().run(pipeline)

    store = open_store(sqlite_metadata_connection_config(str(store_path)))
    [run_id] = list_run_ids(store, pipeline_name)
    runs = {c.component_id: c for c in component_runs(store, pipeline_name, run_id, node_ids)}
    [statistics] = runs[ComponentId.STATISTICS_GEN].outputs["statistics"]
    result = ModeResult(
        mode=mode,
        rows=rows,
        stats_seconds=runs[ComponentId.STATISTICS_GEN].seconds,
        stats_rows_counted=sum(examples_per_split(statistics).values()),
        example_gen_seconds=runs[ComponentId.EXAMPLE_GEN].seconds,
    )
    executions = store.get_executions_by_id([run.execution_id for run in runs.values() if run.execution_id])
    result.windows = {
        run.component_id: [
            execution.create_time_since_epoch / 1000,
            execution.last_update_time_since_epoch / 1000,
        ]
        for run in runs.values()
        for execution in executions
        if execution.id == run.execution_id
    }
    if with_transform:
        [transformed] = runs[ComponentId.TRANSFORM].outputs["transformed_examples"]
        result.transform_rows = rows
        result.transform_seconds = runs[ComponentId.TRANSFORM].seconds
        result.transform_rows_counted = _count_examples(transformed.uri)
    return result


# ---------------------------------------------------------------- parent: spawn, sample memory


def _cores_busy(timeline: list[tuple[float, float]], start: float, end: float) -> float:
    """Cores kept busy in [start, end] from (time, cumulative tree CPU seconds) samples."""

    def cpu_at(moment: float) -> float:
        before = [cpu for when, cpu in timeline if when <= moment]
        return before[-1] if before else 0.0

    return (cpu_at(end) - cpu_at(start)) / (end - start) if end > start else 0.0


def measure_child(args: list[str]) -> tuple[dict, float, float, list[tuple[float, float]]]:
    """Runs this script as a child; returns its JSON result, peak tree RSS (MB), wall seconds and
    a timeline of the tree's cumulative CPU seconds (each process's last sample counts after it
    exits, so a worker's final 0.2 s may be missed)."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        result_file = Path(handle.name)
    env = {**os.environ, **CHILD_ENV}
    started = time.perf_counter()
    child = subprocess.Popen(
        # As a module from the repo root: run as a script, its own folder would go first on
        # sys.path, where a sibling benchmark named like a project package would shadow it.
        [sys.executable, "-m", "benchmarks.scale", *args, "--result-file", str(result_file)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak = 0
    stop = threading.Event()
    cpu_by_pid: dict[int, float] = {}
    timeline: list[tuple[float, float]] = []

    def sample() -> None:
        nonlocal peak
        process = psutil.Process(child.pid)
        while not stop.is_set():
            try:
                members = [process, *process.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            rss = 0
            for member in members:
                try:
                    with member.oneshot():
                        rss += member.memory_info().rss
                        times = member.cpu_times()
                        cpu_by_pid[member.pid] = times.user + times.system
                except psutil.NoSuchProcess:
                    pass
            peak = max(peak, rss)
            timeline.append((time.time(), sum(cpu_by_pid.values())))
            stop.wait(SAMPLE_SECONDS)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = child.communicate()
    stop.set()
    sampler.join()
    wall = time.perf_counter() - started
    if child.returncode != 0:
        raise RuntimeError(f"child {args} failed (exit {child.returncode}):\n{stderr[-4000:]}")
    return json.loads(result_file.read_text()), peak / 2**20, wall, timeline


def _load_text() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--transform-rows",
        type=int,
        default=200_000,
        help="rows for the Transform measurement (0: skip it)",
    )
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--work-dir", default=None)
    parser.add_argument("--json-out", default=None)
    # Internal: the child process that runs one mode.
    parser.add_argument("--child-mode", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--data-root", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--with-transform", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--result-file", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child_mode:
        result = run_mode(
            args.child_mode, Path(args.data_root), Path(args.work_dir), args.rows, args.with_transform
        )
        Path(args.result_file).write_text(json.dumps(asdict(result)))
        return 0

    from ml_lifecycle.config.project import load_config

    work = Path(args.work_dir or tempfile.mkdtemp(prefix="scale-bench-"))
    config = load_config(REPO_ROOT / "lifecycle.yaml", {"work_dir": str(work)})
    modes = [m for m in args.modes.split(",") if m]
    sizes = {"stats": args.rows}
    if args.transform_rows:
        sizes["transform"] = args.transform_rows
    data_roots = {}
    for name, rows in sizes.items():
        data_roots[name] = work / f"data-{name}"
        written = write_rows(config, rows, data_roots[name] / "span-1" / "data.csv")
        assert written == rows, (written, rows)
        print(f"wrote {rows:,} rows to {data_roots[name] / 'span-1' / 'data.csv'}", flush=True)

    print(f"before: {_load_text()}", flush=True)
    results: dict[str, dict[str, ModeResult]] = {name: {} for name in sizes}
    for name, rows in sizes.items():
        for mode in modes:
            child_work = work / f"run-{name}-{mode}"
            child_args = [
                f"--child-mode={mode}",
                f"--data-root={data_roots[name]}",
                f"--work-dir={child_work}",
                f"--rows={rows}",
            ] + (["--with-transform"] if name == "transform" else [])
            data, peak_mb, wall, timeline = measure_child(child_args)
            result = ModeResult(**data)
            result.peak_rss_mb, result.wall_seconds = peak_mb, wall
            result.cores_busy = {
                step: _cores_busy(timeline, start, end) for step, (start, end) in result.windows.items()
            }
            results[name][mode] = result
            print(
                f"  {name:<9} {mode:<16} {rows:>9,} rows  stats {result.stats_seconds:6.1f} s"
                + (f"  transform {result.transform_seconds:6.1f} s" if name == "transform" else "")
                + f"  peak {peak_mb:7.0f} MB  ({_load_text()})",
                flush=True,
            )

    failed = False
    for name, by_mode in results.items():
        for result in by_mode.values():
            if result.stats_rows_counted != result.rows:
                print(f"ROW COUNT MISMATCH: {result.mode} statistics counted {result.stats_rows_counted:,}")
                failed = True
            if name == "transform" and result.transform_rows_counted != result.rows:
                print(f"ROW COUNT MISMATCH: {result.mode} transform wrote {result.transform_rows_counted:,}")
                failed = True

    print()
    print(f"scale benchmark, work dir {work}; {_load_text()}")
    header = (
        f"{'step':<15} {'mode':<17} {'rows':>10} {'seconds':>8} {'rows/s':>9} "
        f"{'cores busy':>10} {'rows counted':>13} {'peak RSS MB':>12}"
    )
    print(header)
    print("-" * len(header))
    for name, by_mode in results.items():
        for mode, result in by_mode.items():
            steps = [
                ("example_gen", result.example_gen_seconds, result.rows),
                ("statistics_gen", result.stats_seconds, result.stats_rows_counted),
            ]
            if name == "transform":
                steps.append(("transform", result.transform_seconds, result.transform_rows_counted))
            for step, seconds, counted in steps:
                rate = result.rows / seconds if seconds else 0.0
                print(
                    f"{step:<15} {mode:<17} {result.rows:>10,} {seconds:>8.1f} {rate:>9,.0f} "
                    f"{result.cores_busy.get(step, 0.0):>10.2f} {counted:>13,} {result.peak_rss_mb:>12,.0f}"
                )
    print("(cores busy: CPU seconds of the child's process tree during the step / its seconds;")
    print(" peak RSS: the whole child process tree over its run, all steps)")

    stats = results["stats"]
    if set(MODES) <= set(stats):
        ratio = stats["in_memory"].stats_seconds / stats["multi_processing"].stats_seconds
        verdict = "ok" if ratio >= RATIO_TARGET else "TARGET MISSED"
        print(
            f"StatisticsGen multi-processing / in-memory rows/s: {ratio:.2f}x "
            f"(target >= {RATIO_TARGET}x): {verdict}"
        )
        if "transform" in results and set(MODES) <= set(results["transform"]):
            by_mode = results["transform"]
            t_ratio = by_mode["in_memory"].transform_seconds / by_mode["multi_processing"].transform_seconds
            print(f"Transform multi-processing / in-memory rows/s: {t_ratio:.2f}x")
    if args.json_out:
        Path(args.json_out).write_text(
            json.dumps({n: {m: asdict(r) for m, r in b.items()} for n, b in results.items()}, indent=2)
        )
    if not args.work_dir:
        # About 0.5 GB of CSV, TFRecords and statistics per run; --work-dir keeps them.
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

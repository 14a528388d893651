"""Runs the tfx wheel's own Chicago taxi pipeline (`taxi_pipeline_native_keras.py`) as shipped,
in its own process, for `pipeline_wall.py` to time.

"As shipped": its `_create_pipeline`, its `_beam_pipeline_args` (multi-processing DirectRunner),
its BeamDagRunner, its module file `taxi_utils_native_keras.py` (packaged into a wheel by TFX on
every run) and INFO logging as its `__main__` sets. Only the paths are ours: --data-root holds
the raw taxi rows of one span, everything the pipeline writes goes under --out-dir.

Writes a JSON result (wall-clock marks, per-node seconds, steps, error) to --result-json.
Exit code 1 when the run failed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import re
import time
from pathlib import Path
from types import ModuleType

# time.time(), not perf_counter: the parent subtracts its own launch time to get start-up cost.
STARTED = time.time()

# BeamDagRunner logs these around each node's launcher (beam_dag_runner._PipelineNodeAsDoFn).
_NODE_EVENT = re.compile(r"^node (\S+) is (running|finished)\.$")


class _NodeTimer(logging.Handler):
    """Seconds per pipeline node, from BeamDagRunner's own log lines (nodes may overlap)."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.started: dict[str, float] = {}
        self.durations: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        match = _NODE_EVENT.match(record.getMessage())
        if not match:
            return
        node, event = match.groups()
        if event == "running":
            self.started[node] = time.perf_counter()
        elif node in self.started:
            self.durations[node] = time.perf_counter() - self.started.pop(node)


def example_dir() -> Path:
    spec = importlib.util.find_spec("tfx")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("tfx is not installed in this interpreter")
    return Path(list(spec.submodule_search_locations)[0]) / "examples" / "chicago_taxi_pipeline"


def load_example(path: Path) -> ModuleType:
    """Imports the shipped pipeline file by path, exactly as it is in the wheel."""
    spec = importlib.util.spec_from_file_location("taxi_pipeline_native_keras", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"{path}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _steps(trainer_args: object) -> int | None:
    # A proto at DSL level; JSON text in some TFX versions.
    if isinstance(trainer_args, str):
        parsed = json.loads(trainer_args)
        return parsed.get("num_steps", parsed.get("numSteps"))
    return getattr(trainer_args, "num_steps", None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", required=True, help="directory holding the span's raw CSV")
    parser.add_argument("--out-dir", required=True, help="pipeline root, metadata and serving go here")
    parser.add_argument("--result-json", required=True)
    args = parser.parse_args(argv)

    import absl.logging
    from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner

    examples = example_dir()
    taxi = load_example(examples / "taxi_pipeline_native_keras.py")
    imported = time.time()

    # Same layout as the example's own defaults under ~/taxi and ~/tfx, rooted at --out-dir.
    out = Path(args.out_dir).resolve()
    name = taxi._pipeline_name
    pipeline = taxi._create_pipeline(
        pipeline_name=name,
        pipeline_root=str(out / "pipelines" / name),
        data_root=str(Path(args.data_root).resolve()),
        module_file=str(examples / "taxi_utils_native_keras.py"),
        serving_model_dir=str(out / "serving_model" / name),
        metadata_path=str(out / "metadata" / name / "metadata.db"),
        beam_pipeline_args=taxi._beam_pipeline_args,
    )
    trainer = next(c for c in pipeline.components if c.id == "Trainer")

    absl.logging.set_verbosity(absl.logging.INFO)  # what the example's __main__ does
    timer = _NodeTimer()
    logging.getLogger("absl").addHandler(timer)
    error: BaseException | None = None
    run_started = time.perf_counter()
    try:
        BeamDagRunner().run(pipeline)
    except Exception as failure:  # recorded for the parent's report, not hidden: exit code 1
        error = failure
    run_seconds = time.perf_counter() - run_started
    finished = time.time()

    result = {
        "started": STARTED,
        "imported": imported,
        "finished": finished,
        "run_seconds": run_seconds,
        "durations": timer.durations,
        "train_steps": _steps(trainer.exec_properties["train_args"]),
        "eval_steps": _steps(trainer.exec_properties["eval_args"]),
        "beam_args": list(taxi._beam_pipeline_args),
        "error": None if error is None else repr(error),
    }
    Path(args.result_json).write_text(json.dumps(result, indent=2))
    print(f"reference: {'FAILED' if error else 'ok'} in {run_seconds:.1f} s", flush=True)
    return 1 if error else 0


if __name__ == "__main__":
    raise SystemExit(main())

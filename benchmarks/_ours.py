"""Runs our pipeline on one prepared span in its own process (`lifecycle run --span N [--force]`
without the CLI's final report; it exits as the console script does), for `pipeline_wall.py` to
time.

The span must already be prepared under the work dir: preparing rewrites the span files, which
changes ExampleGen's input fingerprint, so a warm rerun would no longer hit the cache.

Writes a JSON result (wall-clock marks, per-component seconds, steps, error) to --result-json.
Exit code 1 when the run failed.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

# time.time(), not perf_counter: the parent subtracts its own launch time to get start-up cost.
STARTED = time.time()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="project YAML (lifecycle.yaml)")
    parser.add_argument("--work-dir", required=True)
    parser.add_argument("--span", type=int, required=True)
    parser.add_argument("--result-json", required=True)
    parser.add_argument("--force", action="store_true", help="as `lifecycle run --force`")
    args = parser.parse_args(argv)

    # As the CLI does: library warnings only go to the log, but they still cost time to format.
    warnings.filterwarnings("ignore")
    from ml_lifecycle.config.project import load_config
    from ml_lifecycle.pipeline.runners.local import run_span

    imported = time.time()
    config = load_config(args.config, {"work_dir": args.work_dir})
    outcome = run_span(config, args.span, progress=lambda line: print(line, flush=True), force=args.force)
    finished = time.time()

    result = {
        "started": STARTED,
        "imported": imported,
        "finished": finished,
        "run_seconds": outcome.seconds,
        "durations": outcome.durations,
        "train_steps": config.training.train_steps,
        "eval_steps": config.training.eval_steps,
        "beam_args": config.beam.pipeline_args(outcome.csv_rows or None),
        "csv_rows": outcome.csv_rows,
        "run_id": outcome.run_id,
        "log_file": str(outcome.log_file) if outcome.log_file else None,
        "up_to_date": outcome.up_to_date,
        "error": None if outcome.error is None else repr(outcome.error),
        "failed_component": outcome.failed_component,
    }
    Path(args.result_json).write_text(json.dumps(result, indent=2))
    print(f"ours: {'FAILED' if outcome.error else 'ok'} in {outcome.seconds:.1f} s", flush=True)
    return 1 if outcome.error else 0


if __name__ == "__main__":
    from ml_lifecycle.cli.main import exit_without_teardown

    # As the console script exits.
    exit_without_teardown(main())

"""What the drift steps add to a pipeline run on taxi spans.

Runs spans 1 and 2 in a fresh work dir (span 2 is the first with a drift baseline and a pushed
model to check), then prints, for span 2, each drift step's seconds (baseline resolution, the
data-drift check, the pushed-model resolution and the concept-drift check) against the whole
run measured in the same process. Target: under 10% of the run.

    .venv/bin/python -m benchmarks.drift_cost [--work-dir DIR]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from ml_lifecycle.base.contracts import ComponentId

DRIFT_STEPS = (
    ComponentId.BASELINE_STATISTICS_RESOLVER,
    ComponentId.DRIFT_VALIDATOR,
    ComponentId.PUSHED_MODEL_RESOLVER,
    ComponentId.CONCEPT_DRIFT_CHECK,
)
TARGET = 0.10


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", default=None)
    args = parser.parse_args()
    from ml_lifecycle.config.project import load_config
    from ml_lifecycle.datasets.prepare import prepare_spans
    from ml_lifecycle.pipeline.runners.local import run_span

    work = Path(args.work_dir or tempfile.mkdtemp(prefix="drift-cost-"))
    repo = Path(__file__).resolve().parents[1]
    config = load_config(repo / "lifecycle.yaml", {"work_dir": str(work)})
    prepare_spans(config.dataset, config.data_root_path)
    outcomes = [run_span(config, span, progress=lambda _: None) for span in (1, 2)]
    for outcome in outcomes:
        if outcome.error:
            print(f"span {outcome.span} failed: {outcome.error}")
            return 1
    measured = outcomes[-1]
    drift_seconds = sum(measured.durations.get(step, 0.0) for step in DRIFT_STEPS)
    share = drift_seconds / measured.seconds
    print(f"drift cost, span {measured.span} ({measured.csv_rows} rows), work dir {work}")
    for step in DRIFT_STEPS:
        print(f"  {step:<30} {measured.durations.get(step, 0.0):6.2f} s")
    print(f"  {'drift steps together':<30} {drift_seconds:6.2f} s")
    print(f"  {'whole run (reference)':<30} {measured.seconds:6.2f} s")
    verdict = "ok" if share < TARGET else "TARGET MISSED"
    print(f"  share of the run: {share:.1%} (target < {TARGET:.0%}): {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

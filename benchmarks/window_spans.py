"""Which training window and model family are best on the taxi spans: the candidate's gating
metric per span for each variant, how many spans get blessed and pushed, and the run time.

A variant is `family:window` (`training.model_family`, `training.window_spans`), e.g. `dnn:1`.
For each, a fresh work dir and store; spans 1..LAST run in order with everything else at the
project defaults, so span S's model learns from spans S-N+1..S and is judged, as always, on span
S's eval split against the latest blessed model. Prints one table (spans as rows, one column per
variant: the candidate's AUC, `*` when pushed), the mean, the pushed count and the mean run time.
The best variant has the best mean AUC over spans 2..LAST; one within 0.002 of it that comes
first in the list (list smaller windows first) wins the tie.

    .venv/bin/python -m benchmarks.window_spans [--variants dnn:1,dnn:2,dnn:3,dnn:4,gbt:3]
        [--last-span 8] [--json-out FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import warnings
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# An earlier variant wins when its mean is this close to the best (a smaller window reads fewer
# rows for the same quality).
TIE = 0.002


def run_variant(family: str, window: int, last_span: int, work: Path) -> list[dict]:
    from ml_lifecycle.base.contracts import COMPONENT_IDS
    from ml_lifecycle.config.project import load_config
    from ml_lifecycle.datasets.prepare import prepare_spans
    from ml_lifecycle.metadata.client import MetadataClient
    from ml_lifecycle.pipeline.runners.local import run_span

    config = load_config(
        REPO_ROOT / "lifecycle.yaml",
        {"work_dir": str(work), "training": {"window_spans": window, "model_family": family}},
    )
    prepare_spans(config.dataset, config.data_root_path)
    rows = []
    for span in range(1, last_span + 1):
        started = time.perf_counter()
        outcome = run_span(config, span, progress=lambda _: None)
        report = MetadataClient.from_config(config).run(outcome.run_id, COMPONENT_IDS)
        gating = report.headline_metrics()[:1]
        rows.append(
            {
                "span": span,
                "metric": gating[0].name if gating else None,
                "candidate": gating[0].candidate if gating else None,
                "blessed": bool(report.blessed),
                "pushed": report.pushed_version is not None,
                "seconds": round(time.perf_counter() - started, 1),
                "error": outcome.error,
            }
        )
        print(f"  {family}:{window} span {span}: {rows[-1]}", flush=True)
    return rows


def choose(results: dict[str, list[dict]], first_span: int = 2) -> str:
    means = {
        variant: statistics.fmean(r["candidate"] for r in rows if r["span"] >= first_span and r["candidate"])
        for variant, rows in results.items()
    }
    best = max(means.values())
    return next(variant for variant, mean in means.items() if mean >= best - TIE)


def table(results: dict[str, list[dict]], first_span: int = 2) -> str:
    windows = list(results)
    lines = [
        "span | " + " | ".join(windows),
        "---: | " + " | ".join("---:" for _ in windows),
    ]
    spans = sorted({r["span"] for rows in results.values() for r in rows if r["span"] >= first_span})
    for span in spans:
        cells = []
        for window in windows:
            row = next(r for r in results[window] if r["span"] == span)
            value = "failed" if row["candidate"] is None else f"{row['candidate']:.3f}"
            cells.append(value + (" *" if row["pushed"] else ""))
        lines.append(f"{span} | " + " | ".join(cells))
    means = []
    for window in windows:
        values = [r["candidate"] for r in results[window] if r["span"] >= first_span and r["candidate"]]
        means.append(f"{statistics.fmean(values):.3f}")
    lines.append("mean | " + " | ".join(means))
    pushed = [str(sum(r["pushed"] for r in results[w] if r["span"] >= first_span)) for w in windows]
    lines.append(f"pushed (spans {spans[0]}-{spans[-1]}) | " + " | ".join(pushed))
    seconds = [f"{statistics.fmean(r['seconds'] for r in results[w]):.0f} s" for w in windows]
    lines.append("mean run | " + " | ".join(seconds))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="dnn:1,dnn:2,dnn:3,dnn:4,gbt:3")
    parser.add_argument("--last-span", type=int, default=8)
    parser.add_argument("--json-out", default="")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    results = {}
    for variant in args.variants.split(","):
        family, window = variant.split(":")
        with tempfile.TemporaryDirectory(prefix=f"{family}-{window}-") as work:
            results[variant] = run_variant(family, int(window), args.last_span, Path(work))
    print("\ncandidate AUC on its span's eval split (* = blessed and pushed)\n")
    print(table(results))
    print(f"\nbest (mean AUC over spans 2-{args.last_span}, ties to the earlier variant): {choose(results)}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=1))
    failed = [r for rows in results.values() for r in rows if r["error"]]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`lifecycle drift [--feature F] | report [--out DIR]`: data- and concept-drift history, and the
static HTML report, read from ML Metadata through the metadata API."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ml_lifecycle.base.contracts import ConceptVerdict
from ml_lifecycle.base.errors import UsageError

if TYPE_CHECKING:
    from ml_lifecycle.config.project import PipelineConfig


def format_drift_table(records, concepts, feature: str | None = None) -> str:
    """Spans x features: each cell the drift score, `*` where it is over its threshold."""
    concept_by_span = {c.span: c for c in concepts}
    names = sorted({name for r in records for name in r.features})
    if feature is not None:
        if feature not in names:
            raise UsageError(f"no drift scores recorded for feature {feature!r}; known: {names}")
        names = [feature]
    width = max([10] + [len(n) for n in names]) if feature else 10
    header = (
        f"{'span':>4} {'vs':>4} {'verdict':<11} {'rows':>6} "
        + " ".join(f"{n[:width]:>{width}}" for n in names)
        + "  concept drift"
    )
    lines = [header, "-" * len(header)]
    for record in records:
        cells = []
        for name in names:
            score = record.features.get(name)
            text = "" if score is None else f"{score.score:.3f}{'*' if score.drifted else ' '}"
            cells.append(f"{text:>{width}}")
        concept = concept_by_span.get(record.span)
        concept_text = (
            "-"
            if concept is None or concept.verdict == ConceptVerdict.NO_PUSHED_MODEL
            else f"{'YES' if concept.drifted else 'no '} {concept.metric} "
            f"{concept.blessed_value:.3f}->{concept.current_value:.3f}"
        )
        ratio = (
            f"x{record.example_count_ratio:.2f}{'*' if record.dataset_drift else ' '}"
            if record.example_count_ratio is not None
            else ""
        )
        baseline = record.baseline_span if record.baseline_span is not None else "-"
        lines.append(
            f"{record.span:>4} {baseline:>4} {record.verdict:<11} {ratio:>6} "
            + " ".join(cells)
            + f"  {concept_text}"
        )
    lines.append("* over the schema's threshold (L-infinity for categorical, Jensen-Shannon for numeric);")
    lines.append("  rows: example count relative to the baseline span")
    return "\n".join(lines)


def cmd_drift(config: PipelineConfig, args: argparse.Namespace) -> int:
    from ml_lifecycle.metadata.client import MetadataClient

    client = MetadataClient.from_config(config)
    records = client.drift_history()
    if not records:
        print("no drift reports recorded yet (run `lifecycle run` first)")
        return 0
    print(format_drift_table(records, client.concept_history(), args.feature))
    return 0


def cmd_report(config: PipelineConfig, args: argparse.Namespace) -> int:
    from ml_lifecycle.reports import write_report

    out = Path(args.out) if args.out else Path(config.work_dir) / "report"
    path = write_report(config, out)
    print(f"wrote {path} ({path.stat().st_size // 1024} KiB); open it in a browser")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Adds `lifecycle drift` and `lifecycle report`."""
    drift = commands.add_parser("drift", help="data- and concept-drift history from MLMD")
    drift.add_argument("--feature", default=None, help="one feature's scores only")
    drift.set_defaults(handler=cmd_drift)

    report = commands.add_parser("report", help="a static HTML page: data and models across runs")
    report.add_argument("--out", default=None, help="output directory (default: <work_dir>/report)")
    report.set_defaults(handler=cmd_report)

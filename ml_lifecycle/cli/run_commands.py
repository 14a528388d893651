"""`lifecycle run --span N | --spans A:B`: run the pipeline one span at a time, then summarise each
run from ML Metadata (rows, anomalies, drift, metrics against the baseline, blessing, push)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from ml_lifecycle.base.contracts import ConceptVerdict, DriftVerdict, Prop
from ml_lifecycle.base.errors import UsageError
from ml_lifecycle.base.text import ascii_digits
from ml_lifecycle.metadata.metric_names import change_text, gate_metric_name, metric_text, per_class_values

if TYPE_CHECKING:
    from ml_lifecycle.config.project import PipelineConfig

EXIT_RUN_FAILED = 1


def parse_spans(args: argparse.Namespace) -> list[int]:
    if args.span is not None:
        return [args.span]
    if args.spans:
        first, sep, last = args.spans.partition(":")
        if not sep or not ascii_digits(first) or not ascii_digits(last) or int(first) > int(last):
            raise UsageError(f"--spans {args.spans!r}: expected A:B with 1 <= A <= B, e.g. 1:3")
        return list(range(int(first), int(last) + 1))
    raise UsageError("give --span N or --spans A:B")


def _status_line(outcome, report=None) -> str:
    if outcome.up_to_date:
        return (
            f"span {outcome.span}: UP TO DATE, nothing it depends on changed since run {outcome.run_id} "
            "(config, code, schema, span files, store); that run's summary follows, `--force` runs it again"
        )
    status = "FAILED" if outcome.error else "COMPLETE"
    cached = report.cached_components if report else []
    cache_note = f", {len(cached)} of {len(report.components)} components from cache" if cached else ""
    return f"span {outcome.span}: {status} in {outcome.seconds:.1f} s{cache_note} (run {outcome.run_id})"


def _format_report(report, outcome, gate_metric: str | None = None) -> str:
    """The summary of one span's run; `gate_metric` (the configured gate's listed name) leads
    the metrics."""
    lines = [_status_line(outcome, report)]
    if report and report.examples_per_split:
        splits = ", ".join(f"{k} {v}" for k, v in report.examples_per_split.items())
        total = sum(report.examples_per_split.values())
        lines.append(f"  rows       CSV {outcome.csv_rows} -> examples {total} ({splits})")
    if report:
        lines.append(f"  anomalies  {len(report.anomalies) or 'none'}")
        lines += _drift_lines(report)
        lines += _metric_lines(report, gate_metric)
        if report.blessed is not None:
            lines.append(f"  blessed    {'yes' if report.blessed else 'no (below threshold)'}")
        if report.model_check_passed is not None:
            check = "passed" if report.model_check_passed else f"FAILED: {report.model_check_reason}"
            lines.append(f"  model check {check}")
        if report.pushed_version:
            lines.append(f"  pushed     version {report.pushed_version} -> {report.pushed_path}")
        else:
            lines.append("  pushed     nothing")
    if outcome.error:
        where = f" in {outcome.failed_component}" if outcome.failed_component else ""
        lines.append(f"error{where}: {outcome.error}")
        lines.append(f"  full log: {outcome.log_file}")
    return "\n".join(lines)


def cmd_run(config: PipelineConfig, args: argparse.Namespace) -> int:
    from ml_lifecycle.metadata.client import MetadataClient
    from ml_lifecycle.pipeline.runners.local import run_span
    from ml_lifecycle.pipeline.runners.up_to_date import attach_summary
    from ml_lifecycle.store.queries import RunNotFoundError

    spans = parse_spans(args)
    store = config.metadata.describe(config.metadata_file)
    gate_metric = gate_metric_name(config.gate.metric)
    for span in spans:
        print(f"span {span}: pipeline {config.pipeline_name}, store {store}")
        sys.stdout.flush()
        outcome = run_span(config, span, progress=lambda line: print(line, flush=True), force=args.force)
        if outcome.up_to_date and outcome.summary:
            # Nothing changed since that run, its summary included: no need to read TFMA's files.
            print("\n".join([_status_line(outcome), *outcome.summary]))
            continue
        try:
            report = MetadataClient.from_config(config).run(outcome.run_id, config.component_ids)
        except RunNotFoundError:
            report = None
        text = _format_report(report, outcome, gate_metric)
        print(text)
        if not outcome.error and not outcome.up_to_date:
            attach_summary(config, span, outcome.run_id, text.splitlines()[1:])
        if outcome.error:
            return EXIT_RUN_FAILED
    return 0


def _drift_lines(report) -> list[str]:
    drift, concept = report.drift, report.concept_drift
    lines = []
    if drift:
        verdict = drift.get(Prop.VERDICT)
        if verdict == DriftVerdict.NO_BASELINE:
            lines.append("  data drift no baseline yet (first span)")
        else:
            lines.append(
                f"  data drift {drift.get(Prop.DRIFTED_FEATURE_COUNT, 0)} feature(s) over threshold "
                f"vs span {drift.get(Prop.BASELINE_SPAN)} "
                f"(max score {float(drift.get(Prop.MAX_SCORE, 0)):.3f}, "
                f"policy {drift.get(Prop.POLICY)})"
            )
            lines += [f"             {line}" for line in str(drift.get(Prop.SUMMARY) or "").splitlines()]
    if concept:
        if concept.get(Prop.VERDICT) == ConceptVerdict.NO_PUSHED_MODEL:
            lines.append("  concept drift no pushed model to check yet")
        else:
            drifted = concept.get(Prop.VERDICT) == ConceptVerdict.CONCEPT_DRIFT
            lines.append(
                f"  concept drift {'YES' if drifted else 'no'}: "
                f"pushed model {concept.get(Prop.METRIC)} {float(concept[Prop.BLESSED_VALUE]):.4f} at "
                f"blessing -> {float(concept[Prop.CURRENT_VALUE]):.4f} on this span"
            )
    return lines


def _metric_lines(report, gate_metric: str | None) -> list[str]:
    """The task's headline metrics, gating metric first, each with its baseline's and the change
    where a baseline was evaluated; for a multiclass model also each class's recall, by the
    model's class values."""
    headline = report.headline_metrics(gate_metric)
    width = max([16, *(len(m.name) for m in headline)])
    lines = []
    for index, metric in enumerate(headline):
        if metric.baseline is not None:
            change = change_text(metric.name, metric.baseline, metric.candidate)
            baseline = f"  baseline {metric_text(metric.name, metric.baseline)}  change {change}"
        else:
            # Only the gating metric's note: the rest have no baseline for the same reason.
            baseline = "  (no baseline: first blessed model)" if index == 0 else ""
        lines.append(f"  {metric.name:<{width}} {metric_text(metric.name, metric.candidate)}{baseline}")
    recalls = per_class_values({m.name: m.candidate for m in report.metrics}, "recall", report.classes)
    if recalls:
        shown = "  ".join(f"{name} {value:.2f}" for name, value in recalls.items())
        lines.append(f"  {'recall per class':<{width}} {shown}")
    return lines


def register(commands: argparse._SubParsersAction) -> None:
    """Adds `lifecycle run`."""
    run = commands.add_parser("run", help="run the pipeline, one run per span, in order")
    group = run.add_mutually_exclusive_group(required=True)
    group.add_argument("--span", type=int, help="one span")
    group.add_argument("--spans", help="an inclusive range A:B")
    run.add_argument(
        "--force",
        action="store_true",
        help="run even when nothing changed since the span's last complete run "
        "(TFX's cache still serves what it can)",
    )
    run.set_defaults(handler=cmd_run)

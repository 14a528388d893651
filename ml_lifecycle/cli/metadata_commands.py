"""`lifecycle runs | artifacts | lineage | diff`: read ML Metadata, never write it.

Each command reads only the store and artifact files through `metadata.client.MetadataClient`.
"""

from __future__ import annotations

import argparse
import json
import math
from typing import TYPE_CHECKING

from ml_lifecycle.base.contracts import Prop
from ml_lifecycle.metadata.metric_names import change_text, gate_metric_name, metric_text

if TYPE_CHECKING:
    from ml_lifecycle.config.project import PipelineConfig
    from ml_lifecycle.metadata.client import MetadataClient


def _client(config: PipelineConfig) -> MetadataClient:
    from ml_lifecycle.metadata.client import MetadataClient

    return MetadataClient.from_config(config)


def format_runs(runs, pushed_by_run: dict[str, str]) -> str:
    header = (
        f"{'run id':<32} {'span':>4} {'started (UTC)':<19} {'secs':>6} {'status':<8} {'cached':>6}  pushed"
    )
    lines = [header, "-" * len(header)]
    for run in runs:
        status = run.status if run.status != "FAILED" else f"FAILED at {run.failed_component}"
        cached = f"{run.cache_hits}/{len(run.components)}"
        span = run.span if run.span is not None else "-"
        lines.append(
            f"{run.run_id:<32} {span:>4} {run.started:%Y-%m-%d %H:%M:%S} {run.seconds:6.1f} "
            f"{status:<8} {cached:>6}  {pushed_by_run.get(run.run_id, '-')}"
        )
    return "\n".join(lines)


def cmd_runs(config: PipelineConfig, args: argparse.Namespace) -> int:
    client = _client(config)
    runs = client.runs()
    if not runs:
        print("no pipeline runs recorded yet (run `lifecycle run` first)")
        return 0
    pushed = {
        entry.run_id: str(entry.artifact.properties.get(Prop.PUSHED_VERSION))
        for entry in client.pushed_model_artifacts()
    }
    print(format_runs(runs[: args.limit] if args.limit else runs, pushed))
    return 0


def format_artifacts(entries) -> str:
    header = f"{'id':>5} {'type':<20} {'span':>4} {'component':<24} {'created (UTC)':<19}  uri"
    lines = [header, "-" * len(header)]
    for entry in entries:
        span = entry.span if entry.span is not None else "-"
        lines.append(
            f"{entry.id:>5} {entry.type:<20} {span:>4} {entry.component_id or '-':<24} "
            f"{entry.created:%Y-%m-%d %H:%M:%S}  {entry.uri}"
        )
    return "\n".join(lines)


def cmd_artifacts(config: PipelineConfig, args: argparse.Namespace) -> int:
    entries = _client(config).artifacts(args.type, args.span)
    if not entries:
        print("no artifacts match")
        return 0
    print(format_artifacts(entries[: args.limit] if args.limit else entries))
    return 0


def cmd_lineage(config: PipelineConfig, args: argparse.Namespace) -> int:
    graph = _client(config).lineage(args.reference, "downstream" if args.down else "upstream", args.max_hops)
    if args.format == "dot":
        print(graph.to_dot())
    elif args.format == "json":
        print(json.dumps(graph.to_json(), indent=2, default=str))
    else:
        print("\n".join(graph.tree_lines()))
    return 0


def _number(value: object) -> str:
    """A value that is not a metric (a span, a count of examples, a drift score, a version)."""
    if isinstance(value, float):
        return f"{value:.4g}"  # and nan, inf
    return "-" if value is None else str(value)


def _metric_value(name: str, value: object) -> str:
    return metric_text(name, value) if isinstance(value, float) else _number(value)


def _metric_lines(diff) -> list[str]:
    """The task's headline metrics, then the others (per class, averages, means), one a line."""
    task = f"{diff.task} model, " if diff.task is not None else ""
    lines = [f"metrics:  {task}headline first" if diff.headline_count else "metrics:"]
    width = max([18, *(len(change.name) for change in diff.metrics)])
    shown = [
        (_metric_value(change.name, change.before), _metric_value(change.name, change.after))
        for change in diff.metrics
    ]
    value_width = max([8, *(len(text) for pair in shown for text in pair)])
    for index, (change, (before, after)) in enumerate(zip(diff.metrics, shown, strict=True)):
        if index == diff.headline_count and index:
            lines.append("          other metrics:")
        delta = ""
        if isinstance(change.before, float) and isinstance(change.after, float):
            delta = f"  ({change_text(change.name, change.before, change.after)})"
        lines.append(
            f"          {change.name:<{width}} {before:>{value_width}} -> {after:>{value_width}}{delta}"
        )
    return lines


def format_diff(diff) -> str:
    lines = [f"diff {diff.run_a} -> {diff.run_b}", ""]
    lines.append(f"data:     span {_number(diff.span.before)} -> {_number(diff.span.after)}")
    for change in diff.examples_per_split:
        lines.append(f"          {change.name} examples {_number(change.before)} -> {_number(change.after)}")
    lines.append("schema:   " + ("unchanged" if not diff.schema else f"{len(diff.schema)} change(s)"))
    lines += [f"          {change.describe()}" for change in diff.schema]
    if diff.drift:
        drifted = diff.drifted_features
        lines.append(
            f"drift:    {len(drifted)} of {len(diff.drift)} features over threshold (B's train split vs A's)"
        )
        for item in sorted(diff.drift, key=lambda d: -d.score if math.isfinite(d.score) else 0):
            mark = "*" if item.drifted else " "
            score = f"{_number(item.score):>8}{mark}"
            lines.append(f"          {item.feature:<24} {item.measure:<26} {score} (<= {item.threshold:g})")
    else:
        lines.append(f"drift:    not compared ({diff.drift_note})")
    lines.append("training: " + ("unchanged" if not diff.training else f"{len(diff.training)} change(s)"))
    lines += [f"          {change.describe()}" for change in diff.training]
    lines += _metric_lines(diff)
    if diff.blessed is not None:
        lines.append(f"blessed:  {_number(diff.blessed.before)} -> {_number(diff.blessed.after)}")
    if diff.pushed_version is not None:
        lines.append(
            f"pushed:   {_number(diff.pushed_version.before)} -> {_number(diff.pushed_version.after)}"
        )
    return "\n".join(lines)


def cmd_diff(config: PipelineConfig, args: argparse.Namespace) -> int:
    client = _client(config)
    print(format_diff(client.diff(args.run_a, args.run_b, gate_metric_name(config.gate.metric))))
    return 0


def register(commands) -> None:
    """Adds this module's subcommands to the `lifecycle` parser."""
    runs = commands.add_parser("runs", help="pipeline runs, newest first (from MLMD)")
    runs.add_argument("--limit", type=int, default=0, help="show only the newest N")
    runs.set_defaults(handler=cmd_runs)

    artifacts = commands.add_parser("artifacts", help="artifacts by type and span, newest first")
    artifacts.add_argument("--type", default=None, help="artifact type, e.g. Model, Examples, PushedModel")
    artifacts.add_argument("--span", type=int, default=None, help="only artifacts of this data span")
    artifacts.add_argument("--limit", type=int, default=0, help="show only the newest N")
    artifacts.set_defaults(handler=cmd_artifacts)

    lineage = commands.add_parser("lineage", help="where an artifact came from (or what it fed, --down)")
    lineage.add_argument("reference", help="a pushed model version or an artifact id")
    lineage.add_argument("--down", action="store_true", help="walk downstream instead of upstream")
    lineage.add_argument("--format", choices=("tree", "dot", "json"), default="tree")
    lineage.add_argument("--max-hops", type=int, default=20, help="how far to walk (MLMD hops)")
    lineage.set_defaults(handler=cmd_lineage)

    diff = commands.add_parser("diff", help="what changed between two runs")
    diff.add_argument("run_a", help="the reference run id (or a unique prefix)")
    diff.add_argument("run_b", help="the run compared with it")
    diff.set_defaults(handler=cmd_diff)

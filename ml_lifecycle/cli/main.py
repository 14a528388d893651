"""`lifecycle`: prepare spans, bootstrap a schema, run the pipeline span by span.

Errors print once, as `error: ...`, with a non-zero exit code: 2 for bad input or config,
1 for a pipeline run that failed.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from pathlib import Path

EXIT_RUN_FAILED = 1
EXIT_BAD_INPUT = 2


def _quiet_libraries() -> None:
    """TF/Beam/Google client libraries print pages of warnings; the run log keeps them."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # tf-keras 2.16 (Keras 2): Keras 3 breaks TFX 1.16's trainers.
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    warnings.filterwarnings("ignore")
    root = logging.getLogger()
    root.handlers = [logging.StreamHandler(sys.stderr)]
    root.handlers[0].setLevel(logging.ERROR)
    for name in ("apache_beam", "tensorflow", "tensorflow_model_analysis"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _load(args):
    from ml_lifecycle.config.project import load_config

    # A --work-dir on the command line is relative to where the user stands, not to the config.
    overrides = {"work_dir": os.path.abspath(args.work_dir)} if args.work_dir else None
    return load_config(args.config, overrides)


def _parse_spans(args) -> list[int]:
    if args.span is not None:
        return [args.span]
    if args.spans:
        first, sep, last = args.spans.partition(":")
        if not sep or not first.isdigit() or not last.isdigit() or int(first) > int(last):
            raise ValueError(f"--spans {args.spans!r}: expected A:B with 1 <= A <= B, e.g. 1:3")
        return list(range(int(first), int(last) + 1))
    raise ValueError("give --span N or --spans A:B")


def cmd_data_prepare(args) -> int:
    from ml_lifecycle.datasets.prepare import prepare_spans

    config = _load(args)
    spans = prepare_spans(config.dataset, config.data_root_path)
    print(f"{len(spans)} spans of {config.dataset.name} under {config.data_root_path}:")
    for span in spans:
        print(f"  span {span.span:3d}  {span.period:>8}  {span.rows:7d} rows")
    return 0


def cmd_schema_bootstrap(args) -> int:
    from ml_lifecycle.datasets.schema import bootstrap_schema

    config = _load(args)
    out = Path(args.out) if args.out else config.dataset.resolve_schema()
    if out is None:
        raise ValueError("the dataset config names no schema; pass --out PATH")
    schema = bootstrap_schema(config.dataset, config.data_root_path, out)
    print(f"wrote a curated draft schema ({len(schema.feature)} features) to {out}; review it")
    return 0


def _format_report(report, outcome) -> str:
    lines = []
    status = "FAILED" if outcome.error else "COMPLETE"
    cached = report.cached_components if report else []
    cache_note = f", {len(cached)} of {len(report.components)} components from cache" if cached else ""
    lines.append(
        f"span {outcome.span}: {status} in {outcome.seconds:.1f} s{cache_note} (run {outcome.run_id})"
    )
    if report and report.examples_per_split:
        splits = ", ".join(f"{k} {v}" for k, v in report.examples_per_split.items())
        total = sum(report.examples_per_split.values())
        lines.append(f"  rows       CSV {outcome.csv_rows} -> examples {total} ({splits})")
    if report:
        lines.append(f"  anomalies  {len(report.anomalies) or 'none'}")
        lines += _drift_lines(report)
        wanted = ("auc", "binary_accuracy", "calibration", "example_count")
        for metric in (m for m in report.metrics if m.name in wanted):
            baseline = (
                f"  baseline {_value_text(metric.baseline)}  change {metric.change:+.4f}"
                if metric.baseline is not None
                else "  (no baseline: first blessed model)"
                if metric.name == "auc"
                else ""
            )
            lines.append(f"  {metric.name:<16} {_value_text(metric.candidate)}{baseline}")
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


def cmd_run(args) -> int:
    from ml_lifecycle.metadata.runs import describe_run
    from ml_lifecycle.pipeline.pipeline import COMPONENT_IDS
    from ml_lifecycle.pipeline.runners.local import run_span
    from ml_lifecycle.store.connection import open_store
    from ml_lifecycle.store.queries import RunNotFoundError

    config = _load(args)
    spans = _parse_spans(args)
    store = config.metadata.describe(config.metadata_file)
    for span in spans:
        print(f"span {span}: running the pipeline ({config.pipeline_name}, store {store})")
        sys.stdout.flush()
        outcome = run_span(config, span, progress=lambda line: print(line, flush=True))
        try:
            report = describe_run(
                open_store(config.metadata_connection_config()),
                config.pipeline_name,
                outcome.run_id,
                COMPONENT_IDS,
            )
        except RunNotFoundError:
            report = None
        print(_format_report(report, outcome))
        if outcome.error:
            return EXIT_RUN_FAILED
    return 0


def _drift_lines(report) -> list[str]:
    drift, concept = report.drift, report.concept_drift
    lines = []
    if drift:
        verdict = drift.get("verdict")
        if verdict == "no_baseline":
            lines.append("  data drift no baseline yet (first span)")
        else:
            lines.append(
                f"  data drift {drift.get('drifted_feature_count', 0)} feature(s) over threshold vs span "
                f"{drift.get('baseline_span')} (max score {float(drift.get('max_score', 0)):.3f}, "
                f"policy {drift.get('policy')})"
            )
            lines += [f"             {line}" for line in str(drift.get("summary") or "").splitlines()]
    if concept:
        if concept.get("verdict") == "no_pushed_model":
            lines.append("  concept drift no pushed model to check yet")
        else:
            lines.append(
                f"  concept drift {'YES' if concept.get('verdict') == 'concept_drift' else 'no'}: "
                f"pushed model {concept.get('metric')} {float(concept['blessed_value']):.4f} at "
                f"blessing -> {float(concept['current_value']):.4f} on this span"
            )
    return lines


def _value_text(value: float) -> str:
    return f"{value:.0f}" if value.is_integer() and abs(value) > 1 else f"{value:.4f}"


def format_drift_table(records, concepts, feature: str | None = None) -> str:
    """Spans x features: each cell the drift score, `*` where it is over its threshold."""
    concept_by_span = {c.span: c for c in concepts}
    names = sorted({name for r in records for name in r.features})
    if feature is not None:
        if feature not in names:
            raise ValueError(f"no drift scores recorded for feature {feature!r}; known: {names}")
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
            if concept is None or concept.verdict == "no_pushed_model"
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


def cmd_drift(args) -> int:
    from ml_lifecycle.metadata.drift import concept_history, drift_history
    from ml_lifecycle.store.connection import open_store

    config = _load(args)
    store = open_store(config.metadata_connection_config())
    records = drift_history(store)
    if not records:
        print("no drift reports recorded yet (run `lifecycle run` first)")
        return 0
    print(format_drift_table(records, concept_history(store), args.feature))
    return 0


def cmd_report(args) -> int:
    from ml_lifecycle.reports import write_report

    config = _load(args)
    out = Path(args.out) if args.out else Path(config.work_dir) / "report"
    path = write_report(config, out)
    print(f"wrote {path} ({path.stat().st_size // 1024} KiB); open it in a browser")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lifecycle", description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None, help="project YAML (default ./lifecycle.yaml)")
    parser.add_argument("--work-dir", default=None, help="override work_dir from the config")
    commands = parser.add_subparsers(dest="command", required=True)

    data = commands.add_parser("data", help="dataset spans").add_subparsers(dest="action", required=True)
    prepare = data.add_parser("prepare", help="cut the source CSV into span-N/ directories")
    prepare.set_defaults(handler=cmd_data_prepare)

    schema = commands.add_parser("schema", help="curated schema").add_subparsers(dest="action", required=True)
    bootstrap = schema.add_parser("bootstrap", help="infer and curate a draft schema from all spans")
    bootstrap.add_argument("--out", default=None, help="where to write (default: the dataset's schema)")
    bootstrap.set_defaults(handler=cmd_schema_bootstrap)

    run = commands.add_parser("run", help="run the pipeline, one run per span, in order")
    group = run.add_mutually_exclusive_group(required=True)
    group.add_argument("--span", type=int, help="one span")
    group.add_argument("--spans", help="an inclusive range A:B")
    run.set_defaults(handler=cmd_run)

    drift = commands.add_parser("drift", help="data- and concept-drift history from MLMD")
    drift.add_argument("--feature", default=None, help="one feature's scores only")
    drift.set_defaults(handler=cmd_drift)

    report = commands.add_parser("report", help="a static HTML page: data and models across runs")
    report.add_argument("--out", default=None, help="output directory (default: <work_dir>/report)")
    report.set_defaults(handler=cmd_report)

    # Each area registers its own subcommands from its own module (lifecycle/<area>_commands.py).
    for register in _command_registrars():
        register(commands)
    return parser


def _command_registrars():
    from ml_lifecycle.cli import metadata_commands, review_commands, scale_commands, serve_commands

    return (
        metadata_commands.register,
        review_commands.register,
        scale_commands.register,
        serve_commands.register,
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _quiet_libraries()
    from ml_lifecycle.base.errors import ConfigError, DataError
    from ml_lifecycle.metadata.lineage import ArtifactNotFoundError
    from ml_lifecycle.store.connection import (
        StoreBusyError,
        StoreNotFoundError,
        StoreUnavailableError,
        as_store_busy,
    )
    from ml_lifecycle.store.queries import RunNotFoundError

    try:
        return args.handler(args)
    except (
        ConfigError,
        DataError,
        StoreNotFoundError,
        StoreBusyError,
        StoreUnavailableError,
        RunNotFoundError,
        ArtifactNotFoundError,
        ValueError,
    ) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except RuntimeError as error:
        busy = as_store_busy(error)  # a lock met after the store was opened, mid-query
        if busy is None:
            raise
        print(f"error: {busy}", file=sys.stderr)
        return EXIT_BAD_INPUT


def entry_point() -> None:
    """The console script. Exits without interpreter teardown: TensorFlow's function
    finalizers otherwise print pages of "Exception ignored in AtomicFunction.__del__" once the
    modules they need are gone. Everything is written and flushed by then."""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


if __name__ == "__main__":
    entry_point()

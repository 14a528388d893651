"""`lifecycle data prepare | schema bootstrap`: cut the source into spans, draft a curated schema."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ml_lifecycle.base.errors import ConfigError

if TYPE_CHECKING:
    from ml_lifecycle.config.project import PipelineConfig


def cmd_data_prepare(config: PipelineConfig, args: argparse.Namespace) -> int:
    from ml_lifecycle.datasets.prepare import prepare_spans

    spans = prepare_spans(config.dataset, config.data_root_path)
    print(f"{len(spans)} spans of {config.dataset.name} under {config.data_root_path}:")
    for span in spans:
        dropped = f"  ({span.dropped_unlabelled} unlabelled rows dropped)" if span.dropped_unlabelled else ""
        print(f"  span {span.span:3d}  {span.period:>8}  {span.rows:7d} rows{dropped}")
    return 0


def cmd_schema_bootstrap(config: PipelineConfig, args: argparse.Namespace) -> int:
    from ml_lifecycle.datasets.schema import bootstrap_schema

    out = Path(args.out) if args.out else config.dataset.resolve_schema()
    if out is None:
        raise ConfigError("the dataset config names no schema; pass --out PATH")
    schema = bootstrap_schema(config.dataset, config.data_root_path, out)
    print(f"wrote a curated draft schema ({len(schema.feature)} features) to {out}; review it")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Adds `lifecycle data prepare` and `lifecycle schema bootstrap`."""
    data = commands.add_parser("data", help="dataset spans").add_subparsers(dest="action", required=True)
    prepare = data.add_parser("prepare", help="cut the source CSV into span-N/ directories")
    prepare.set_defaults(handler=cmd_data_prepare)

    schema = commands.add_parser("schema", help="curated schema").add_subparsers(dest="action", required=True)
    bootstrap = schema.add_parser("bootstrap", help="infer and curate a draft schema from all spans")
    bootstrap.add_argument("--out", default=None, help="where to write (default: the dataset's schema)")
    bootstrap.set_defaults(handler=cmd_schema_bootstrap)

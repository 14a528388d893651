"""`lifecycle compile`: the same pipeline as a Kubeflow Pipelines v2 / Vertex AI job spec.

Offline: the spec is written, never submitted. The image, pipeline root and cluster-side paths
come from the config's `kubeflow` section, the Beam runner and its options from `beam`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ml_lifecycle.base.errors import UsageError

if TYPE_CHECKING:
    from ml_lifecycle.config.project import PipelineConfig


def _span_rows(config, span: int) -> int:
    """The span's CSV rows when its files are on this machine (checked as `lifecycle run` does);
    0 when they only exist where the cluster reads them."""
    from ml_lifecycle.datasets.check import check_span
    from ml_lifecycle.datasets.span_files import span_dir

    if not span_dir(config.data_root_path, span).is_dir():
        return 0
    return check_span(config.dataset, config.data_root_path, span).rows


def cmd_compile(config: PipelineConfig, args: argparse.Namespace) -> int:
    from ml_lifecycle.pipeline.runners.kubeflow_v2 import compile_kubeflow_v2

    if args.span < 1:
        raise UsageError(f"--span {args.span}: spans are numbered from 1")
    compiled = compile_kubeflow_v2(config, args.span, Path(args.out), _span_rows(config, args.span))
    print(
        f"wrote {compiled.path}: {args.target} spec of {config.pipeline_name} for span {compiled.span}, "
        f"{len(compiled.tasks)} tasks"
    )
    print(f"  image          {config.kubeflow.image}")
    print(f"  pipeline root  {config.kubeflow.pipeline_root}")
    print(f"  beam           {config.beam.runner}: {' '.join(compiled.beam_args)}")
    for note in compiled.notes:
        print(f"  note: {note}")
    return 0


def register(commands) -> None:
    """Adds `lifecycle compile` to the `lifecycle` parser."""
    compile_parser = commands.add_parser(
        "compile", help="write the pipeline as a Kubeflow Pipelines v2 / Vertex AI spec (offline)"
    )
    compile_parser.add_argument("--target", required=True, choices=["kubeflow-v2"], help="orchestrator")
    compile_parser.add_argument("--out", required=True, help="the spec file to write (.json or .yaml)")
    compile_parser.add_argument(
        "--span", type=int, default=1, help="the span the compiled run reads (default 1)"
    )
    compile_parser.set_defaults(handler=cmd_compile)

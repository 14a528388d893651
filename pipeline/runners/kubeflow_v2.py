"""Compiles `create_pipeline(config, span)` into a Kubeflow Pipelines v2 / Vertex AI Pipelines
job spec (JSON or YAML) with TFX's KubeflowV2DagRunner. Offline: nothing is submitted.

The pipeline object is the one `lifecycle run` executes; what differs is decided here:

- Locations: the `kubeflow` config section says where the cluster finds the pipeline root, the
  span CSVs, the curated schema and the push destination (gs://... on Vertex). The local
  config's path fields are resolved against this machine's disk, so the cluster's locations
  are set on the built pipeline's nodes instead of going through them.
- Metadata: the cluster's orchestrator owns ML Metadata; the local store connection is dropped.
- Resolvers: KFP v2 compiles a Resolver into a query its backend runs, and TFX 1.16 can express
  only LatestArtifactStrategy and LatestBlessedModelStrategy that way; the project's three
  strategies are Python run against MLMD. Each compiles to the nearest query
  (`KFP_RESOLVER_SUBSTITUTES`), and every compile says so in its notes.
- Custom artifact types: KFP v2 names a custom type by the import path its container imports
  it from (`<package>.<Class>`, one dot); the project's types keep their MLMD names locally.

Compiling checks gs:// paths only for components built from a module file (this project uses
importable module paths), so a gs:// pipeline root compiles without the network.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ml_lifecycle.base.contracts import ComponentId
from ml_lifecycle.base.errors import ConfigError
from ml_lifecycle.config.project import PipelineConfig

TARGET = "kubeflow-v2"


@dataclass
class CompiledPipeline:
    path: Path
    span: int
    spec: dict
    tasks: list[str]
    beam_args: list[str]
    notes: list[str] = field(default_factory=list)


def _resolver_substitutes() -> dict[type, type]:
    from tfx.dsl.input_resolution.strategies.latest_artifact_strategy import LatestArtifactStrategy
    from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import (
        LatestBlessedModelStrategy,
    )

    from ml_lifecycle.components.baseline_resolver.strategy import (
        BaselineStatisticsStrategy,
        LatestBlessedModelFromOtherSpanStrategy,
        PushedModelStrategy,
    )

    return {
        # The latest statistics before this run: drift.baseline 'previous', not 'pushed'/'pinned'.
        BaselineStatisticsStrategy: LatestArtifactStrategy,
        # The latest model and the latest evaluation, not necessarily the pushed model's.
        PushedModelStrategy: LatestArtifactStrategy,
        # Differs only on a rerun of the same span (it may pick the candidate of the first run).
        LatestBlessedModelFromOtherSpanStrategy: LatestBlessedModelStrategy,
    }


KFP_RESOLVER_NOTES = {
    "BaselineStatisticsStrategy": "drift baseline = the latest statistics (as drift.baseline 'previous')",
    "PushedModelStrategy": "concept-drift check uses the latest model and evaluation, not the pushed one",
    "LatestBlessedModelFromOtherSpanStrategy": "evaluation baseline = the latest blessed model (any span)",
}


def _substitute_resolvers(pipeline) -> list[str]:
    from tfx.dsl.components.common.resolver import Resolver

    substitutes = _resolver_substitutes()
    notes = []
    for node in pipeline.components:
        if not isinstance(node, Resolver):
            continue
        strategy = node.exec_properties.get("resolver_class")
        substitute = substitutes.get(strategy)
        if substitute is None:
            continue
        # Resolver keeps its strategy in private fields and has no public setter. The built-in
        # strategies take no config (the span and mode only mean something to ours).
        node._strategy_class = substitute
        node._config = {}
        why = KFP_RESOLVER_NOTES[strategy.__name__]
        notes.append(f"{node.id}: {strategy.__name__} -> {substitute.__name__}: {why}")
    return notes


def _relocate(pipeline, config: PipelineConfig) -> None:
    """Points the built pipeline at the locations the cluster sees (config.kubeflow)."""
    from tfx.proto import pusher_pb2
    from tfx.utils import proto_utils

    kubeflow = config.kubeflow
    pipeline.pipeline_info.pipeline_root = kubeflow.pipeline_root
    nodes = {node.id: node for node in pipeline.components}
    if kubeflow.data_root:
        nodes[ComponentId.EXAMPLE_GEN].exec_properties["input_base"] = kubeflow.data_root
    if kubeflow.schema_file and "schema_file" in nodes[ComponentId.SCHEMA].exec_properties:
        nodes[ComponentId.SCHEMA].exec_properties["schema_file"] = kubeflow.schema_file
    if kubeflow.serving_root:
        # Pusher keeps its destination as the proto's JSON text.
        destination = proto_utils.json_to_proto(
            nodes[ComponentId.PUSHER].exec_properties["push_destination"], pusher_pb2.PushDestination()
        )
        destination.filesystem.base_directory = (
            f"{kubeflow.serving_root.rstrip('/')}/{config.serving_model_name}"
        )
        nodes[ComponentId.PUSHER].exec_properties["push_destination"] = proto_utils.proto_to_json(destination)


def kfp_type_title(artifact_type: type) -> str:
    """The KFP v2 schema title of a custom artifact type: the path its container imports it by."""
    return f"{artifact_type.__module__.split('.')[0]}.{artifact_type.__name__}"


@contextlib.contextmanager
def _custom_artifact_titles(pipeline, notes: list[str]) -> Iterator[None]:
    """While compiling, titles the project's artifact types `<package>.<Class>` for KFP v2.

    Their TYPE_NAMEs ("DriftReport") are MLMD type names in every existing local store, so they
    stay; TFX's compiler takes the title from TYPE_NAME and rejects names without a package.
    The class attribute is left alone on purpose: Artifact caches its MLMD type on the class.
    """
    from tfx.orchestration.kubeflow.v2 import compiler_utils
    from tfx.types import artifact as tfx_artifact

    channels = [c for node in pipeline.components for c in (*node.inputs.values(), *node.outputs.values())]
    custom = {
        channel.type
        for channel in channels
        if not compiler_utils._SCHEMA_TITLE_RE.fullmatch(channel.type.TYPE_NAME)
        and channel.type not in compiler_utils._SUPPORTED_STANDARD_ARTIFACT_TYPES
    }
    for artifact_type in sorted(custom, key=lambda t: t.TYPE_NAME):
        title = kfp_type_title(artifact_type)
        module_name, class_name = title.rsplit(".", 1)
        if getattr(importlib.import_module(module_name), class_name, None) is not artifact_type:
            notes.append(
                f"artifact type {artifact_type.TYPE_NAME}: the KFP container imports it as {title}; "
                f"export it from {module_name}/__init__.py before running the spec"
            )
    original = compiler_utils.get_artifact_schema

    def titled_schema(artifact_type: type[tfx_artifact.Artifact]) -> str:
        if artifact_type not in custom:
            return original(artifact_type)

        class Titled(artifact_type):
            TYPE_NAME = kfp_type_title(artifact_type)

        return original(Titled)

    compiler_utils.get_artifact_schema = titled_schema
    try:
        yield
    finally:
        compiler_utils.get_artifact_schema = original


def compile_kubeflow_v2(
    config: PipelineConfig, span: int, out: str | Path, span_rows: int = 0
) -> CompiledPipeline:
    """Writes the KFP v2 job spec of the pipeline for `span` to `out` (.json, or .yaml/.yml).

    `span_rows` is the span's CSV row count when known here (the anomaly gate then proves no row
    was lost, and `beam.mode: auto` picks by it); 0 skips that check in the compiled run.
    """
    missing = config.kubeflow.missing_for_compile()
    if missing:
        raise ConfigError(
            f"compiling for {TARGET} needs {', '.join(missing)} in the project YAML "
            "(kubeflow.image: an image with this project installed; kubeflow.pipeline_root: "
            "e.g. gs://bucket/pipelines)"
        )
    out = Path(out)
    if out.suffix not in (".json", ".yaml", ".yml"):
        raise ConfigError(f"--out {out}: expected a .json or .yaml file name")
    if out.exists() and out.is_dir():
        raise ConfigError(f"--out {out}: is a directory; expected a file name")

    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner

    from ml_lifecycle.pipeline.pipeline import create_pipeline

    notes = []
    if config.training.window_spans > 1:
        # The window is a Python strategy over MLMD, and the nearest query KFP can express (the
        # latest Examples of any producer) could hand Transform its own earlier output.
        notes.append(
            f"training.window_spans {config.training.window_spans} -> 1: Kubeflow v2 cannot resolve a "
            "window of spans; the model trains on this span only"
        )
        training = config.training.model_copy(update={"window_spans": 1})
        config = config.model_copy(update={"training": training})
    pipeline = create_pipeline(config, span, span_rows)
    # The cluster's orchestrator records metadata in its own store.
    pipeline.metadata_connection_config = None
    _relocate(pipeline, config)
    notes += _substitute_resolvers(pipeline)
    if not span_rows:
        notes.append(f"span {span}: row count unknown here, the anomaly gate's row check is off")
    runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
        config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(
            display_name=config.kubeflow.display_name or None, default_image=config.kubeflow.image
        ),
        output_dir=str(out.resolve().parent),
        output_filename=out.name,
    )
    with _custom_artifact_titles(pipeline, notes):
        spec = runner.run(pipeline, write_out=True)
    tasks = sorted(spec["pipelineSpec"]["root"]["dag"]["tasks"])
    return CompiledPipeline(
        path=out, span=span, spec=spec, tasks=tasks, beam_args=list(pipeline.beam_pipeline_args), notes=notes
    )


__all__ = ["CompiledPipeline", "KFP_RESOLVER_NOTES", "TARGET", "compile_kubeflow_v2", "kfp_type_title"]

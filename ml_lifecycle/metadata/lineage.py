"""The lineage of one artifact, up to the raw span files or down to every pushed model.

Built from MLMD's `get_lineage_subgraph`, then walked again over INPUT/OUTPUT events only: TFX's
resolver nodes record the artifacts they pick as INTERNAL_OUTPUT events, and following those
would make every resolved model look "produced" by a resolver. ExampleGen's execution names the
files it read (`input_base` + the span's split pattern), which become the leaves of an upstream graph.
"""

from __future__ import annotations

import glob
import json
import os
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from ml_lifecycle.base.contracts import Prop
from ml_lifecycle.base.errors import LifecycleError
from ml_lifecycle.store.queries import (
    INPUT_EVENTS,
    OUTPUT_EVENTS,
    artifact_properties,
    event_key,
    execution_state,
    property_value,
    training_spans,
)

Direction = Literal["upstream", "downstream"]
_DIRECTIONS = {
    "upstream": metadata_store_pb2.LineageSubgraphQueryOptions.UPSTREAM,
    "downstream": metadata_store_pb2.LineageSubgraphQueryOptions.DOWNSTREAM,
}


class ArtifactNotFoundError(LifecycleError, LookupError):
    """No artifact (or pushed model version) with that id in the store."""


@dataclass(frozen=True)
class LineageNode:
    key: str  # "artifact:12", "execution:5" or "file:/abs/path"
    kind: Literal["artifact", "execution", "file"]
    type: str  # artifact type, component class, or "file"
    label: str  # what a person reads: "Examples span 2", "trainer", "data.csv"
    id: int | None = None
    uri: str = ""
    state: str = ""
    properties: dict[str, object] = field(default_factory=dict)


@dataclass
class LineageGraph:
    """Nodes and data-flow edges (input artifact -> execution -> output artifact; file -> ExampleGen)."""

    root: str
    direction: Direction
    nodes: dict[str, LineageNode] = field(default_factory=dict)
    edges: list[tuple[str, str, str]] = field(default_factory=list)  # (source, target, event key)

    def next_nodes(self, key: str) -> list[tuple[str, str]]:
        """Neighbours in the walking direction, with the event key naming the connection."""
        if self.direction == "upstream":
            found = [(source, name) for source, target, name in self.edges if target == key]
        else:
            found = [(target, name) for source, target, name in self.edges if source == key]
        return sorted(found, key=lambda pair: (self.nodes[pair[0]].kind != "execution", pair[0]))

    def tree_lines(self) -> list[str]:
        """An indented tree from the root; a node met again is shown once and referred to after."""
        lines: list[str] = []
        shown: set[str] = set()

        def visit(key: str, depth: int, via: str) -> None:
            node = self.nodes[key]
            prefix = "  " * depth + ("<- " if self.direction == "upstream" else "-> ") * (depth > 0)
            via_text = f"[{via}] " if via else ""
            if key in shown:
                lines.append(f"{prefix}{via_text}{node.label} (#{node.id}, see above)")
                return
            shown.add(key)
            lines.append(f"{prefix}{via_text}{_describe(node)}")
            for child, name in self.next_nodes(key):
                visit(child, depth + 1, name)

        visit(self.root, 0, "")
        return lines

    def to_json(self) -> dict:
        return {
            "root": self.root,
            "direction": self.direction,
            "nodes": [asdict(node) for node in self.nodes.values()],
            "edges": [{"source": s, "target": t, "key": k} for s, t, k in self.edges],
        }

    def to_dot(self) -> str:
        shapes = {"artifact": "box", "execution": "ellipse", "file": "note"}
        lines = ["digraph lineage {", "  rankdir=LR;", '  node [fontname="Helvetica"];']
        for node in self.nodes.values():
            label = node.label.replace('"', r"\"")
            style = ", style=bold" if node.key == self.root else ""
            lines.append(f'  "{node.key}" [label="{label}", shape={shapes[node.kind]}{style}];')
        for source, target, name in self.edges:
            lines.append(f'  "{source}" -> "{target}" [label="{name}"];')
        lines.append("}")
        return "\n".join(lines)


def _describe(node: LineageNode) -> str:
    if node.kind == "file":
        return f"file {node.uri}"
    if node.kind == "execution":
        return f"{node.label} ({node.type}, execution #{node.id}, {node.state})"
    return f"{node.label} (#{node.id}) {node.uri}"


def _artifact_label(type_name: str, properties: dict[str, object], spans: Sequence[int] = ()) -> str:
    """What a person reads for an artifact; a Model names the `spans` it was trained on (a
    window may hold several), and is plain "Model" when no Examples are upstream of it."""
    if type_name == "Model" and spans:
        return f"Model trained on span{'s' * (len(spans) != 1)} {', '.join(map(str, spans))}"
    if type_name == "Examples" and properties.get(Prop.SPAN) is not None:
        return f"Examples span {properties[Prop.SPAN]}"
    if type_name == "PushedModel" and properties.get(Prop.PUSHED_VERSION) is not None:
        return f"PushedModel version {properties[Prop.PUSHED_VERSION]}"
    if type_name in ("ModelBlessing", "InfraBlessing") and properties.get(Prop.BLESSED) is not None:
        return f"{type_name} {'blessed' if properties[Prop.BLESSED] == 1 else 'not blessed'}"
    return type_name


def execution_component_ids(store: metadata_store.MetadataStore, pipeline_name: str) -> dict[int, str]:
    """Execution id -> the pipeline's stable component id (from TFX's `node` contexts)."""
    prefix = f"{pipeline_name}."
    ids: dict[int, str] = {}
    for context in store.get_contexts_by_type("node"):
        if context.name.startswith(prefix):
            for execution in store.get_executions_by_context(context.id):
                ids[execution.id] = context.name[len(prefix) :]
    return ids


def _span_files(execution: metadata_store_pb2.Execution) -> list[str]:
    """The files an ExampleGen execution read: its input_base joined with each split pattern."""
    props = {k: property_value(v) for k, v in execution.custom_properties.items()}
    base, input_config = props.get("input_base"), props.get("input_config")
    if not isinstance(base, str) or not isinstance(input_config, str):
        return []
    try:
        splits = json.loads(input_config).get("splits", [])
    except json.JSONDecodeError:
        return []
    files: list[str] = []
    for split in splits:
        pattern = os.path.join(base, split.get("pattern", ""))
        matches = sorted(glob.glob(pattern))
        # A file deleted since the run still belongs to the lineage: show the pattern it matched.
        files += matches or [pattern]
    return files


def lineage(
    store: metadata_store.MetadataStore,
    artifact_id: int,
    pipeline_name: str,
    direction: Direction = "upstream",
    max_hops: int = 20,
) -> LineageGraph:
    """The lineage subgraph of one artifact, walked over real inputs and outputs only."""
    [root] = store.get_artifacts_by_id([artifact_id]) or [None]
    if root is None:
        raise ArtifactNotFoundError(f"no artifact with id {artifact_id} in the metadata store")
    query = metadata_store_pb2.LineageSubgraphQueryOptions(
        max_num_hops=max_hops, direction=_DIRECTIONS[direction]
    )
    query.starting_artifacts.filter_query = f"id = {artifact_id}"
    subgraph = store.get_lineage_subgraph(query, ["artifacts", "executions", "events"])

    artifact_types = {t.id: t.name for t in store.get_artifact_types()}
    execution_types = {t.id: t.name for t in store.get_execution_types()}
    component_ids = execution_component_ids(store, pipeline_name)
    artifacts = {a.id: a for a in subgraph.artifacts}
    artifacts.setdefault(root.id, root)
    executions = {e.id: e for e in subgraph.executions}

    # Data-flow edges: artifact -> execution for inputs, execution -> artifact for outputs.
    edges: dict[str, list[tuple[str, str, str]]] = {}
    for event in subgraph.events:
        if event.artifact_id not in artifacts or event.execution_id not in executions:
            continue
        a, e = f"artifact:{event.artifact_id}", f"execution:{event.execution_id}"
        if event.type in INPUT_EVENTS:
            edge = (a, e, event_key(event))
        elif event.type in OUTPUT_EVENTS:
            edge = (e, a, event_key(event))
        else:
            continue  # resolver bookkeeping (INTERNAL_*), pending outputs
        walk_from = edge[1] if direction == "upstream" else edge[0]
        edges.setdefault(walk_from, []).append(edge)

    graph = LineageGraph(root=f"artifact:{artifact_id}", direction=direction)
    queue = deque([graph.root])
    seen = {graph.root}
    while queue:
        key = queue.popleft()
        kind, _, raw_id = key.partition(":")
        if kind == "artifact":
            artifact = artifacts[int(raw_id)]
            properties = artifact_properties(artifact)
            type_name = artifact_types.get(artifact.type_id, "?")
            spans = sorted(training_spans(store, artifact.id)) if type_name == "Model" else []
            label = _artifact_label(type_name, properties, spans)
            graph.nodes[key] = LineageNode(
                key,
                "artifact",
                type_name,
                label,
                artifact.id,
                artifact.uri,
                metadata_store_pb2.Artifact.State.Name(artifact.state),
                properties,
            )
        elif kind == "execution":
            execution = executions[int(raw_id)]
            type_name = execution_types.get(execution.type_id, "?").rsplit(".", 1)[-1]
            graph.nodes[key] = LineageNode(
                key,
                "execution",
                type_name,
                component_ids.get(execution.id, type_name),
                execution.id,
                state=execution_state(execution)[0],
            )
            if direction == "upstream" and type_name.endswith("ExampleGen"):
                for path in _span_files(execution):
                    file_key = f"file:{path}"
                    graph.nodes[file_key] = LineageNode(
                        file_key, "file", "file", os.path.basename(path), uri=path
                    )
                    graph.edges.append((file_key, key, "input_base"))
        else:
            continue
        for edge in edges.get(key, []):
            graph.edges.append(edge)
            following = edge[0] if direction == "upstream" else edge[1]
            if following not in seen:
                seen.add(following)
                queue.append(following)
    return graph

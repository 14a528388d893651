"""Whether a span's last complete local run is still up to date, decided before TFX is imported.

Re-running a span nothing changed for is served from TFX's MLMD cache in well under a second of
pipeline work, but importing TensorFlow, TFX and Beam to get there costs ~7 s. Like make or DVC,
`lifecycle run` instead compares what the run depended on with what it was when the last
complete run of that span was recorded (`<work_dir>/up_to_date/span-<N>.json`):

- the fingerprint: the parsed config, the package's code, the TFX stack's versions, the curated
  schema and the span files of the training window (name, size, mtime: what ExampleGen's own
  fingerprint uses);
- the store marker: MLMD's newest execution, artifact and context (any write moves it);
- the run's output artifacts, which must still exist on the local filesystem.

Only the standard library, pydantic and ml_metadata are imported here: never TensorFlow or TFX.
"""

from __future__ import annotations

import datetime
import hashlib
import importlib.metadata
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
from pydantic import BaseModel, ConfigDict

from ml_lifecycle.base.atomic_file import write_atomically
from ml_lifecycle.config.project import PipelineConfig
from ml_lifecycle.datasets.span_files import SPAN_FILE_NAME, span_dir
from ml_lifecycle.store.connection import StoreNotFoundError, open_store
from ml_lifecycle.store.queries import OUTPUT_EVENTS, PIPELINE_RUN_CONTEXT, RunNotFoundError

# The packages whose code TFX runs for us: a different version can give different results.
TRACKED_DISTRIBUTIONS = (
    "tfx",
    "tensorflow",
    "tf-keras",
    "tensorflow-metadata",
    "tensorflow-transform",
    "tensorflow-model-analysis",
    "tensorflow-data-validation",
    "tfx-bsl",
    "apache-beam",
    "ml-metadata",
    "tensorflow-decision-forests",
    "ydf",
)
# Packages whose .py files are the run's code; the last two live at the repository root.
CODE_PACKAGES = ("ml_lifecycle", "ml_lifecycle.pipeline", "ml_lifecycle.components")
ABSENT = "absent"


class RunRecord(BaseModel):
    """What a complete run of one span depended on, and what it wrote."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fingerprint: str
    fingerprint_parts: dict[str, str]  # part name -> sha256, to say what changed
    store_marker: dict[str, int]
    run_id: str
    recorded_at: str  # ISO 8601, UTC
    output_uris: list[str]
    # The run's summary as `lifecycle run` printed it (attach_summary): an up-to-date span is
    # summarised from here, since reading TFMA's metrics back would import TensorFlow.
    summary: list[str] = []


@dataclass(frozen=True)
class UpToDateCheck:
    """The outcome of `check_up_to_date`: the record when up to date, else why not."""

    record: RunRecord | None
    reason: str

    @property
    def is_up_to_date(self) -> bool:
        return self.record is not None


def _sha256(*chunks: bytes) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        # Length-prefixed, so that ("ab", "c") and ("a", "bc") hash differently.
        digest.update(len(chunk).to_bytes(8, "big"))
        digest.update(chunk)
    return digest.hexdigest()


def _code_files() -> dict[str, Path]:
    """Every .py file of the installed package by its path inside `ml_lifecycle/`.

    Found through the import system's specs (an editable install maps `pipeline/` and
    `components/` from the repository root) without importing any of their modules. Keyed by
    package path, so a regular install, where they sit inside `ml_lifecycle/`, counts each once.
    """
    files: dict[str, Path] = {}
    for package in CODE_PACKAGES:
        spec = importlib.util.find_spec(package)
        prefix = package.replace(".", "/")
        for location in (spec.submodule_search_locations or []) if spec else []:
            root = Path(location)
            for path in root.rglob("*.py"):
                if "__pycache__" not in path.parts:
                    files.setdefault(f"{prefix}/{path.relative_to(root).as_posix()}", path)
    return files


def _file_stat_text(path: Path) -> str:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return f"{path}: {ABSENT}"
    return f"{path}: {stat.st_size} {stat.st_mtime_ns}"


def _span_file_texts(directory: Path) -> list[str]:
    """Every CSV ExampleGen would read from a span directory (`span-N/*.csv`), by size and mtime."""
    files = sorted(directory.glob("*.csv")) if directory.is_dir() else []
    return [_file_stat_text(path) for path in files] or [f"{directory / SPAN_FILE_NAME}: {ABSENT}"]


def fingerprint_parts(config: PipelineConfig, span: int) -> dict[str, str]:
    """A sha256 per thing a run of `span` depends on, other than the store (see the module doc)."""
    code = sorted(_code_files().items())
    # The interpreter too: it is in the Beam args (the SDK image), hence in TFX's cache keys.
    versions = [f"python {sys.version}"]
    for name in TRACKED_DISTRIBUTIONS:
        try:
            versions.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{name}: {ABSENT}")
    schema_path = config.dataset.resolve_schema()
    try:
        schema = schema_path.read_bytes() if schema_path else b"none configured"
    except FileNotFoundError:
        schema = ABSENT.encode()
    window = sorted(set(range(max(1, span - config.training.window_spans + 1), span + 1)) | {span})
    span_files = [text for s in window for text in _span_file_texts(span_dir(config.data_root_path, s))]
    return {
        "config": _sha256(config.model_dump_json().encode()),
        "code": _sha256(*(chunk for key, path in code for chunk in (key.encode(), path.read_bytes()))),
        "versions": _sha256(*(v.encode() for v in versions)),
        "schema": _sha256(str(schema_path).encode(), schema),
        "span files": _sha256(*(s.encode() for s in span_files)),
    }


def combined_fingerprint(parts: dict[str, str]) -> str:
    return _sha256(*(f"{name}={value}".encode() for name, value in sorted(parts.items())))


def run_fingerprint(config: PipelineConfig, span: int) -> str:
    """One sha256 over everything a run of `span` depends on, other than the store."""
    return combined_fingerprint(fingerprint_parts(config, span))


_MARKER_ENTITIES = ("executions", "artifacts", "contexts")


def store_marker(connection_config: metadata_store_pb2.ConnectionConfig) -> dict[str, int]:
    """The newest id and update time (ms) of the store's executions, artifacts and contexts.

    Every run writes new executions and contexts, and updates what it touches, so any write
    moves one of these. MLMD has no count query (counting means listing everything), so there
    are no counts. Raises StoreNotFoundError for a store that does not exist (never creates one).
    """
    return _marker_of(open_store(connection_config))


def _marker_of(store: metadata_store.MetadataStore) -> dict[str, int]:
    marker: dict[str, int] = {}
    for entity in _MARKER_ENTITIES:
        get = getattr(store, f"get_{entity}")
        for key, order_by, field in (
            ("max_id", metadata_store.OrderByField.ID, "id"),
            ("last_update_ms", metadata_store.OrderByField.UPDATE_TIME, "last_update_time_since_epoch"),
        ):
            newest = get(list_options=metadata_store.ListOptions(limit=1, order_by=order_by, is_asc=False))
            marker[f"{entity}_{key}"] = getattr(newest[0], field) if newest else 0
    return marker


def run_output_uris(store: metadata_store.MetadataStore, run_id: str) -> list[str]:
    """The URIs of every output artifact of the executions in pipeline run `run_id`, sorted.

    Artifacts a resolver only passed along (INTERNAL_OUTPUT events) belong to earlier runs and
    are left out. Raises RunNotFoundError when the store has no such run.
    """
    run = store.get_context_by_type_and_name(PIPELINE_RUN_CONTEXT, run_id)
    if run is None:
        raise RunNotFoundError(f"no pipeline run {run_id!r} in the metadata store")
    execution_ids = [e.id for e in store.get_executions_by_context(run.id)]
    events = store.get_events_by_execution_ids(execution_ids) if execution_ids else []
    artifact_ids = sorted({e.artifact_id for e in events if e.type in OUTPUT_EVENTS})
    artifacts = store.get_artifacts_by_id(artifact_ids) if artifact_ids else []
    return sorted({a.uri for a in artifacts if a.uri})


def record_path(config: PipelineConfig, span: int) -> Path:
    return config.up_to_date_dir / f"span-{span}.json"


def write_record(config: PipelineConfig, span: int, record: RunRecord) -> Path:
    """Writes the record atomically: a reader sees the old record or the new one, never half."""
    return write_atomically(record_path(config, span), record.model_dump_json(indent=2))


def attach_summary(config: PipelineConfig, span: int, run_id: str, summary: list[str]) -> bool:
    """Adds the printed summary of run `run_id` to the span's record; False (nothing written)
    when the record is of another run or missing."""
    record = read_record(config, span)
    if record is None or record.run_id != run_id:
        return False
    write_record(config, span, record.model_copy(update={"summary": list(summary)}))
    return True


def read_record(config: PipelineConfig, span: int) -> RunRecord | None:
    """The span's record, or None when there is none or it cannot be read or parsed."""
    try:
        return RunRecord.model_validate_json(record_path(config, span).read_bytes())
    except (OSError, ValueError):  # pydantic's ValidationError is a ValueError
        return None


def _missing_output(uris: list[str]) -> str | None:
    """Why the outputs are not all there: the first missing or non-local URI, else None."""
    for uri in uris:
        if "://" in uri:
            return f"output {uri} is not on the local filesystem"
        if not os.path.exists(uri):
            return f"output missing: {uri}"
    return None


def check_up_to_date(config: PipelineConfig, span: int) -> UpToDateCheck:
    """Whether span `span`'s recorded complete run still stands, and if not, why not.

    Never raises for a missing, unreadable or corrupt record, nor for a store that does not
    exist; errors opening an existing store (StoreBusyError, StoreUnavailableError, ConfigError)
    propagate, as the run itself would raise them.
    """
    path = record_path(config, span)
    if not path.exists():
        return UpToDateCheck(None, f"no record of a complete run of span {span}")
    record = read_record(config, span)
    if record is None:
        return UpToDateCheck(None, f"record {path} is unreadable or corrupt")
    parts = fingerprint_parts(config, span)
    if combined_fingerprint(parts) != record.fingerprint:
        changed = [name for name, value in parts.items() if record.fingerprint_parts.get(name) != value]
        return UpToDateCheck(None, f"{', '.join(changed) or 'inputs'} changed since run {record.run_id}")
    try:
        marker = store_marker(config.metadata_connection_config())
    except StoreNotFoundError:
        return UpToDateCheck(None, "no metadata store")
    if marker != record.store_marker:
        return UpToDateCheck(None, f"the metadata store changed since run {record.run_id}")
    missing = _missing_output(record.output_uris)
    if missing:
        return UpToDateCheck(None, missing)
    return UpToDateCheck(record, f"up to date with run {record.run_id}")


def foreign_executions(
    store: metadata_store.MetadataStore, run_id: str, marker_before: dict[str, int]
) -> int:
    """How many executions written since `marker_before` belong to another run than `run_id`:
    a run that overlapped this one may have changed what its resolvers would pick now."""
    run = store.get_context_by_type_and_name(PIPELINE_RUN_CONTEXT, run_id)
    ours = {e.id for e in store.get_executions_by_context(run.id)} if run is not None else set()
    since = store.get_executions(
        list_options=metadata_store.ListOptions(filter_query=f"id > {marker_before['executions_max_id']}")
    )
    return sum(1 for execution in since if execution.id not in ours)


def record_complete_run(
    config: PipelineConfig,
    span: int,
    run_id: str,
    parts: dict[str, str],
    marker_before: dict[str, int],
) -> RunRecord | None:
    """Records run `run_id` of `span` as complete: call it after LocalDagRunner returned cleanly.

    `parts` (`fingerprint_parts`) and `marker_before` (`store_marker`) are taken before the run
    started: a span file or source edited while the run was going makes the next check fail, and
    a run another process wrote meanwhile means no record at all (None), since its blessed model
    or statistics may be what this run's resolvers would pick on a rerun. The marker recorded is
    the one after the run, which includes its own writes.
    """
    store = open_store(config.metadata_connection_config())
    if foreign_executions(store, run_id, marker_before):
        return None
    record = RunRecord(
        fingerprint=combined_fingerprint(parts),
        fingerprint_parts=parts,
        store_marker=_marker_of(store),
        run_id=run_id,
        recorded_at=datetime.datetime.now(datetime.timezone.utc).isoformat(),
        output_uris=run_output_uris(store, run_id),
    )
    write_record(config, span, record)
    return record

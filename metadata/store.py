"""Typed, read-only views of what a pipeline run recorded in ML Metadata.

Only the public `ml_metadata` API is used. Results are dataclasses, not protos, so the CLI and
notebooks never need to know MLMD's event and context model.
"""

from __future__ import annotations

import json
import random
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

EXECUTION_STATES = {v: k.replace("_", " ") for k, v in metadata_store_pb2.Execution.State.items()}
OUTPUT_EVENTS = (
    metadata_store_pb2.Event.OUTPUT,
    metadata_store_pb2.Event.DECLARED_OUTPUT,
)
INPUT_EVENTS = (metadata_store_pb2.Event.INPUT, metadata_store_pb2.Event.DECLARED_INPUT)


class StoreNotFoundError(FileNotFoundError):
    """The metadata store does not exist (no pipeline has run with this config yet)."""


class RunNotFoundError(LookupError):
    """No pipeline run with that id is recorded."""


@dataclass(frozen=True)
class ArtifactRecord:
    id: int
    type: str
    uri: str
    properties: dict[str, object]


@dataclass
class ComponentRun:
    component_id: str
    state: str  # COMPLETE, CACHED, FAILED, RUNNING, ... or NOT RUN
    seconds: float
    execution_id: int | None = None
    inputs: dict[str, list[ArtifactRecord]] = field(default_factory=dict)
    outputs: dict[str, list[ArtifactRecord]] = field(default_factory=dict)


class StoreBusyError(RuntimeError):
    """The store is locked by another process (SQLite allows one writer at a time)."""


class StoreUnavailableError(ConnectionError):
    """The MySQL server cannot be reached, or refuses the configured user."""


def open_store(
    target: str | Path | metadata_store_pb2.ConnectionConfig,
    create: bool = False,
) -> metadata_store.MetadataStore:
    """Opens an existing store; never creates one unless `create` (a run about to write).

    `target` is a SQLite file path or a connection config (`PipelineConfig.metadata_connection_config()`).
    MLMD has no read-only mode. Errors MLMD reports as bare status strings become
    StoreNotFoundError, StoreBusyError or StoreUnavailableError naming the store.
    """
    if isinstance(target, metadata_store_pb2.ConnectionConfig):
        config = metadata_store_pb2.ConnectionConfig()
        config.CopyFrom(target)
    else:
        config = metadata_store_pb2.ConnectionConfig()
        config.sqlite.filename_uri = str(target)
    if config.HasField("sqlite"):
        path = Path(config.sqlite.filename_uri)
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
            config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
        elif not path.is_file():
            raise StoreNotFoundError(f"{path}: no metadata store (run `lifecycle run` first)")
        else:
            config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE
    elif config.HasField("mysql"):
        config.mysql.skip_db_creation = not create
        if not config.mysql.socket:
            check_mysql_greeting(config.mysql)
    try:
        return _connect_retrying_init_races(config)
    except Exception as error:  # MLMD raises its own status errors; only these are ours to name
        busy = as_store_busy(error)
        if busy is not None:
            raise busy from error
        if config.HasField("mysql"):
            raise _mysql_error(config.mysql, error) from error
        raise


# What MLMD says when processes open one empty database at the same moment and race to create its
# tables (a deadlock on MySQL, half the tables seen by the loser); MLMD asks the caller to retry.
_INIT_RACE_MESSAGES = ("deadlock found", "try restarting transaction", "subset of tables")
_INIT_ATTEMPTS = 10


def _connect_retrying_init_races(config: metadata_store_pb2.ConnectionConfig) -> metadata_store.MetadataStore:
    """Connects, retrying what MLMD reports as a lost race to initialise the schema, as TFX's own
    `Metadata.__enter__` does, with a random pause so the racers fall out of step."""
    for attempt in range(1, _INIT_ATTEMPTS + 1):
        try:
            return metadata_store.MetadataStore(config)
        except RuntimeError as error:
            text = str(error).lower()
            if attempt == _INIT_ATTEMPTS or not any(message in text for message in _INIT_RACE_MESSAGES):
                raise
            time.sleep(random.uniform(0.1, 1.0))
    raise AssertionError("unreachable")


# MLMD's MySQL client connects without a timeout: a port that accepts TCP but never sends MySQL's
# greeting (another service, a stuck proxy) would hang the caller for good. The probe leaves
# before authenticating, which the server counts against `max_connect_errors` only until the
# next successful connection from the host, the one MLMD makes right after it.
GREETING_TIMEOUT_SECONDS = 5.0
_MYSQL_PROTOCOL_VERSION = 10
_MYSQL_ERROR_PACKET = 0xFF


def check_mysql_greeting(mysql: metadata_store_pb2.MySQLDatabaseConfig, timeout: float | None = None) -> None:
    """Raises StoreUnavailableError unless host:port sends a MySQL handshake within `timeout`.

    A MySQL/MariaDB server speaks first: a packet header (3-byte length, sequence 0) and then
    protocol version 10, or an error packet (0xff) such as "Too many connections".
    """
    store = f"mysql://{mysql.user}@{mysql.host}:{mysql.port}/{mysql.database}"
    port = mysql.port or 3306
    timeout = GREETING_TIMEOUT_SECONDS if timeout is None else timeout
    try:
        connection = socket.create_connection((mysql.host, port), timeout=timeout)
    except OSError as unreachable:
        raise StoreUnavailableError(
            f"{store}: cannot reach the MySQL server at {mysql.host}:{port} ({unreachable});"
            " is it running, and are metadata.host and metadata.port right?"
        ) from unreachable
    try:
        with connection:
            greeting = _read_greeting(connection)
    except TimeoutError:
        raise StoreUnavailableError(
            f"{store}: {mysql.host}:{port} accepts connections but sent no MySQL greeting within "
            f"{timeout:g} s; is metadata.port the MySQL server's port?"
        ) from None
    except OSError:  # reset by the peer: no greeting, as below
        greeting = b""
    if len(greeting) >= 5 and greeting[3] == 0 and greeting[4] == _MYSQL_PROTOCOL_VERSION:
        return
    if len(greeting) >= 7 and greeting[4] == _MYSQL_ERROR_PACKET:
        # Error packet: 0xff, 2-byte code, then the message (no SQL state before the handshake).
        message = greeting[7:].decode("utf-8", "replace").strip()
        raise StoreUnavailableError(
            f"{store}: the server at {mysql.host}:{port} refuses connections: {message}"
        )
    if not greeting:
        raise StoreUnavailableError(
            f"{store}: {mysql.host}:{port} closed the connection without a MySQL greeting; is "
            "metadata.port the MySQL server's port, and does the server accept this host?"
        )
    raise StoreUnavailableError(
        f"{store}: {mysql.host}:{port} answered, but not with a MySQL greeting "
        f"(first bytes {greeting[:8]!r}); is metadata.port the MySQL server's port?"
    )


def _read_greeting(connection: socket.socket) -> bytes:
    """The first packet, or what arrived of it before the peer closed."""
    data = b""
    while len(data) < 4 or len(data) < min(4 + int.from_bytes(data[:3], "little"), 1 << 16):
        if len(data) >= 4 and data[3] != 0:
            break  # a first packet has sequence number 0: this is another protocol
        chunk = connection.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def _mysql_error(mysql: metadata_store_pb2.MySQLDatabaseConfig, error: Exception) -> Exception:
    """Names what went wrong once the server has greeted (`check_mysql_greeting`): MLMD says only
    "mysql_real_connect failed" for a wrong password and a user the host may not connect as."""
    store = f"mysql://{mysql.user}@{mysql.host}:{mysql.port}/{mysql.database}"
    text = str(error)
    if "Unknown database" in text:
        return StoreNotFoundError(
            f"{store}: no database {mysql.database!r} on the server (run `lifecycle run` first, which"
            " creates it, or ask the server's admin to create it and grant the user access)"
        )
    if "Access denied" in text:
        denied = text.splitlines()[0]
        return StoreUnavailableError(f"{store}: the server denies user {mysql.user!r}: {denied}")
    if "mysql_real_connect failed" not in text:
        return error
    return StoreUnavailableError(
        f"{store}: the server at {mysql.host}:{mysql.port} answers but refuses user {mysql.user!r}:"
        " check the password (the variable metadata.password_env names) and that the user may"
        " connect from this host"
    )


# What MLMD says after retrying for ~25 s against a lock another process holds (SQLite), or for a
# schema-creation race still lost after our retries.
_BUSY_MESSAGES = ("locked", "busy", "concurrent writes aborted", *_INIT_RACE_MESSAGES)


def as_store_busy(error: BaseException) -> StoreBusyError | None:
    """A StoreBusyError for an MLMD error caused by another process holding the store's lock."""
    text = str(error).lower()
    if not any(message in text for message in _BUSY_MESSAGES):
        return None
    return StoreBusyError(
        "the metadata store is locked by another process (a pipeline writing to it, or a client "
        f"holding a transaction); try again when it finishes. MLMD said: {str(error).splitlines()[0]}"
    )


def _value(value: metadata_store_pb2.Value) -> object:
    kind = value.WhichOneof("value")
    if kind == "struct_value":
        # TFX stores dict properties as a Struct wrapping {"__value__": json}.
        from google.protobuf import json_format

        plain = json_format.MessageToDict(value.struct_value)
        inner = plain.get("__value__") if set(plain) == {"__value__"} else None
        return json.loads(inner) if isinstance(inner, str) else plain
    if kind == "proto_value":
        return str(value.proto_value.type_url)
    return getattr(value, kind) if kind else None


def _artifact_record(artifact: metadata_store_pb2.Artifact, type_name: str) -> ArtifactRecord:
    properties = {k: _value(v) for k, v in artifact.properties.items()}
    properties.update({k: _value(v) for k, v in artifact.custom_properties.items()})
    return ArtifactRecord(artifact.id, type_name, artifact.uri, properties)


def _event_key(event: metadata_store_pb2.Event) -> str:
    for step in event.path.steps:
        if step.HasField("key"):
            return step.key
    return ""


def list_run_ids(store: metadata_store.MetadataStore, pipeline_name: str) -> list[str]:
    """Run ids of a pipeline, oldest first."""
    if store.get_context_by_type_and_name("pipeline", pipeline_name) is None:
        return []
    runs = sorted(store.get_contexts_by_type("pipeline_run"), key=lambda c: c.create_time_since_epoch)
    return [c.name for c in runs]


def execution_state(execution: metadata_store_pb2.Execution) -> tuple[str, float]:
    """An execution's state name (COMPLETE, CACHED, FAILED, ...) and its seconds in MLMD."""
    seconds = (execution.last_update_time_since_epoch - execution.create_time_since_epoch) / 1000
    return EXECUTION_STATES.get(execution.last_known_state, "UNKNOWN"), seconds


def component_runs(
    store: metadata_store.MetadataStore,
    pipeline_name: str,
    run_id: str,
    component_ids: tuple[str, ...] | list[str],
) -> list[ComponentRun]:
    """Each component's execution in one run, with its input and output artifacts."""
    run = store.get_context_by_type_and_name("pipeline_run", run_id)
    if run is None:
        raise RunNotFoundError(f"no pipeline run {run_id!r} in the metadata store")
    in_run = {e.id: e for e in store.get_executions_by_context(run.id)}
    type_names = {t.id: t.name for t in store.get_artifact_types()}
    result = []
    for component_id in component_ids:
        node = store.get_context_by_type_and_name("node", f"{pipeline_name}.{component_id}")
        executions = [e for e in store.get_executions_by_context(node.id) if e.id in in_run] if node else []
        if not executions:
            result.append(ComponentRun(component_id, "NOT RUN", 0.0))
            continue
        execution = max(executions, key=lambda e: e.id)
        entry = ComponentRun(component_id, *execution_state(execution), execution.id)
        events = store.get_events_by_execution_ids([execution.id])
        artifacts = {a.id: a for a in store.get_artifacts_by_id(list({e.artifact_id for e in events}))}
        for event in events:
            artifact = artifacts.get(event.artifact_id)
            if artifact is None:
                continue
            record = _artifact_record(artifact, type_names.get(artifact.type_id, "?"))
            side = entry.outputs if event.type in OUTPUT_EVENTS else entry.inputs
            side.setdefault(_event_key(event), []).append(record)
        result.append(entry)
    return result


def upstream_artifacts(
    store: metadata_store.MetadataStore, artifact_id: int, max_hops: int = 20
) -> list[ArtifactRecord]:
    """Every artifact the given one was derived from, walking executions' input events."""
    type_names = {t.id: t.name for t in store.get_artifact_types()}
    seen: set[int] = {artifact_id}
    frontier = [artifact_id]
    found: list[ArtifactRecord] = []
    for _ in range(max_hops):
        if not frontier:
            break
        producing = {
            e.execution_id for e in store.get_events_by_artifact_ids(frontier) if e.type in OUTPUT_EVENTS
        }
        frontier = []
        if not producing:
            break
        for event in store.get_events_by_execution_ids(list(producing)):
            if event.type in INPUT_EVENTS and event.artifact_id not in seen:
                seen.add(event.artifact_id)
                frontier.append(event.artifact_id)
        for artifact in store.get_artifacts_by_id(frontier):
            found.append(_artifact_record(artifact, type_names.get(artifact.type_id, "?")))
    return found


@dataclass(frozen=True)
class PushedModelRecord:
    pushed_model_id: int
    version: str
    path: str
    span: int | None  # the span the model was trained on
    model_id: int | None  # the Trainer's Model artifact
    created_ms: int


def producing_execution(store: metadata_store.MetadataStore, artifact_id: int) -> int | None:
    outputs = [e for e in store.get_events_by_artifact_ids([artifact_id]) if e.type in OUTPUT_EVENTS]
    return outputs[0].execution_id if outputs else None


def _artifacts_by_key(
    store: metadata_store.MetadataStore, execution_id: int, event_types: tuple
) -> dict[str, list[int]]:
    keyed: dict[str, list[int]] = {}
    for event in store.get_events_by_execution_ids([execution_id]):
        if event.type in event_types:
            keyed.setdefault(_event_key(event), []).append(event.artifact_id)
    return keyed


def inputs_by_key(store: metadata_store.MetadataStore, execution_id: int) -> dict[str, list[int]]:
    """An execution's input artifact ids by input key (e.g. 'examples')."""
    return _artifacts_by_key(store, execution_id, INPUT_EVENTS)


def outputs_by_key(store: metadata_store.MetadataStore, execution_id: int) -> dict[str, list[int]]:
    """An execution's output artifact ids by output key."""
    return _artifacts_by_key(store, execution_id, OUTPUT_EVENTS)


def training_spans(store: metadata_store.MetadataStore, model_id: int) -> set[int]:
    """The spans of the Examples a Model was trained on (its upstream ExampleGen outputs).

    A Model's lineage holds only the Trainer's inputs (Transform, ExampleGen), never the
    Evaluator's baseline, so this is the training data alone.
    """
    return {
        int(a.properties["span"])
        for a in upstream_artifacts(store, model_id)
        if a.type == "Examples" and a.properties.get("span") is not None
    }


def pushed_models(
    store: metadata_store.MetadataStore, pipeline_name: str | None = None
) -> list[PushedModelRecord]:
    """Every model actually pushed, oldest first, with the span and Model it came from.

    The path is PushedModel <- Pusher <- InfraBlessing <- model_check <- Model; the span comes
    from the Model's lineage (`training_spans`). With `pipeline_name`, only that pipeline's pushes:
    a shared store holds other pipelines' too.
    """
    records = []
    artifacts = store.get_artifacts_by_type("PushedModel")
    if pipeline_name is not None:
        context = store.get_context_by_type_and_name("pipeline", pipeline_name)
        ours = {a.id for a in store.get_artifacts_by_context(context.id)} if context else set()
        artifacts = [a for a in artifacts if a.id in ours]
    for artifact in artifacts:
        if _value(artifact.custom_properties.get("pushed", metadata_store_pb2.Value())) != 1:
            continue
        span = model_id = None
        pusher = producing_execution(store, artifact.id)
        blessing_ids = inputs_by_key(store, pusher).get("infra_blessing", []) if pusher else []
        if blessing_ids:
            check = producing_execution(store, blessing_ids[0])
            model_ids = inputs_by_key(store, check).get("model", []) if check else []
            model_id = model_ids[0] if model_ids else None
        if model_id is not None:
            spans = training_spans(store, model_id)
            span = max(spans) if spans else None
        records.append(
            PushedModelRecord(
                pushed_model_id=artifact.id,
                version=str(_value(artifact.custom_properties["pushed_version"])),
                path=str(_value(artifact.custom_properties["pushed_destination"])),
                span=span,
                model_id=model_id,
                created_ms=artifact.create_time_since_epoch,
            )
        )
    return sorted(records, key=lambda r: r.pushed_model_id)


def blessing_evaluation_id(store: metadata_store.MetadataStore, model_id: int) -> int | None:
    """The ModelEvaluation written by the Evaluator run that blessed `model_id` as candidate."""
    for event in store.get_events_by_artifact_ids([model_id]):
        if event.type not in INPUT_EVENTS or _event_key(event) != "model":
            continue
        outputs = outputs_by_key(store, event.execution_id)
        if not outputs.get("evaluation") or not outputs.get("blessing"):
            continue
        [blessing] = store.get_artifacts_by_id(outputs["blessing"][:1])
        if _value(blessing.custom_properties.get("blessed", metadata_store_pb2.Value())) == 1:
            return outputs["evaluation"][0]
    return None

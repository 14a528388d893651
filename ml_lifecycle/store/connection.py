"""Opening the ML Metadata store a config names: SQLite or MySQL, with errors a user can act on.

Every store connection in the project goes through `open_store` (the pipeline's runs, the
baseline resolvers through TFX, the metadata read API, benchmarks). MLMD reports failures as
bare status strings; here they become StoreNotFoundError, StoreBusyError or
StoreUnavailableError naming the store.
"""

from __future__ import annotations

import random
import socket
import time
from pathlib import Path

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from ml_lifecycle.base.errors import LifecycleError


class StoreNotFoundError(LifecycleError, FileNotFoundError):
    """The metadata store does not exist (no pipeline has run with this config yet)."""


class StoreBusyError(LifecycleError, RuntimeError):
    """The store is locked by another process (SQLite allows one writer at a time)."""


class StoreUnavailableError(LifecycleError, ConnectionError):
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

"""ml_lifecycle.store.connection: what open_store says about a store that cannot be opened (real
MLMD connection attempts against closed and bogus local ports), its retries of a lost
initialisation race, and the MySQL greeting probe."""

from __future__ import annotations

import socket

import pytest
from ml_metadata.proto import metadata_store_pb2

from ml_lifecycle.store.connection import StoreNotFoundError, StoreUnavailableError, open_store

# --- open_store: what a store that cannot be opened says -------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _mysql_connection(port: int) -> metadata_store_pb2.ConnectionConfig:
    connection = metadata_store_pb2.ConnectionConfig()
    connection.mysql.host = "127.0.0.1"
    connection.mysql.port = port
    connection.mysql.database = "mlmd"
    connection.mysql.user = "team"
    connection.mysql.password = "pw"
    return connection


def test_mysql_server_not_listening_is_named_with_host_and_port():
    port = _free_port()

    with pytest.raises(StoreUnavailableError, match=f"cannot reach the MySQL server at 127.0.0.1:{port}"):
        open_store(_mysql_connection(port))


def test_sqlite_store_is_created_only_when_asked(tmp_path):
    path = tmp_path / "store" / "metadata.sqlite"

    with pytest.raises(StoreNotFoundError, match="no metadata store"):
        open_store(path)
    assert not path.exists()

    open_store(path, create=True)
    assert path.is_file()
    assert open_store(path).get_artifacts() == []


# --- open_store: processes racing to initialise one empty store -------------------------------

DEADLOCK = "mysql_query aborted: errno: Deadlock found when trying to get lock; try restarting transaction"
SUBSET = "There are a subset of tables in MLMD instance. This may be due to concurrent connection"


class _FlakyStore:
    """Stands in for MLMD's MetadataStore: raises each of `errors` once, then connects."""

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        self.attempts = 0

    def __call__(self, config):
        self.attempts += 1
        if self.errors:
            raise RuntimeError(self.errors.pop(0))
        return "store"


def test_a_lost_initialisation_race_is_retried_until_the_store_opens(tmp_path, monkeypatch):
    import ml_lifecycle.store.connection as store_module

    flaky = _FlakyStore([DEADLOCK, SUBSET, DEADLOCK])
    monkeypatch.setattr(store_module.metadata_store, "MetadataStore", flaky)
    monkeypatch.setattr(store_module.time, "sleep", lambda seconds: None)

    assert open_store(tmp_path / "metadata.sqlite", create=True) == "store"
    assert flaky.attempts == 4


def test_other_connection_errors_are_not_retried(tmp_path, monkeypatch):
    import ml_lifecycle.store.connection as store_module

    flaky = _FlakyStore(["mysql_real_connect failed: errno: Access denied for user 'team'"])
    monkeypatch.setattr(store_module.metadata_store, "MetadataStore", flaky)
    monkeypatch.setattr(store_module, "check_mysql_greeting", lambda mysql: None)  # no server here
    monkeypatch.setattr(store_module.time, "sleep", lambda seconds: None)

    with pytest.raises(StoreUnavailableError, match="denies user 'team'"):
        open_store(_mysql_connection(3307))
    assert flaky.attempts == 1


def test_a_race_lost_every_time_gives_up_with_store_busy(tmp_path, monkeypatch):
    import ml_lifecycle.store.connection as store_module
    from ml_lifecycle.store.connection import StoreBusyError

    flaky = _FlakyStore([SUBSET] * 50)
    monkeypatch.setattr(store_module.metadata_store, "MetadataStore", flaky)
    monkeypatch.setattr(store_module.time, "sleep", lambda seconds: None)

    with pytest.raises(StoreBusyError, match="subset of tables"):
        open_store(tmp_path / "metadata.sqlite", create=True)
    assert flaky.attempts == store_module._INIT_ATTEMPTS


# --- open_store: a port that is not a MySQL server ---------------------------------------------


class _FakePeer:
    """A local TCP server that sends `greeting` (None: says nothing) to each connection and then
    holds it open until the test ends."""

    def __init__(self, greeting: bytes | None):
        import threading

        self.greeting = greeting
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            if self.greeting is not None:
                connection.sendall(self.greeting)
            self.held.append(connection)

    def close(self) -> None:
        self.listener.close()
        for connection in self.held:
            connection.close()


@pytest.fixture
def fake_peer():
    peers: list[_FakePeer] = []

    def start(greeting: bytes | None) -> int:
        peers.append(_FakePeer(greeting))
        return peers[-1].port

    yield start
    for peer in peers:
        peer.close()


def test_a_port_that_never_greets_fails_after_the_timeout_instead_of_hanging(fake_peer, monkeypatch):
    import ml_lifecycle.store.connection as store_module

    port = fake_peer(None)
    monkeypatch.setattr(store_module, "GREETING_TIMEOUT_SECONDS", 0.3)

    with pytest.raises(
        StoreUnavailableError, match=f"127.0.0.1:{port} accepts connections but sent no MySQL"
    ):
        open_store(_mysql_connection(port))


def test_a_port_that_speaks_another_protocol_is_named(fake_peer):
    port = fake_peer(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")

    with pytest.raises(StoreUnavailableError, match=r"not with a MySQL greeting \(first bytes b'SSH-2.0-'\)"):
        open_store(_mysql_connection(port))


def test_a_server_refusing_before_the_handshake_says_why(fake_peer):
    message = b"Too many connections"
    packet = b"\xff" + (1040).to_bytes(2, "little") + message
    port = fake_peer(len(packet).to_bytes(3, "little") + b"\x00" + packet)

    with pytest.raises(StoreUnavailableError, match="refuses connections: Too many connections"):
        open_store(_mysql_connection(port))


def test_a_mysql_greeting_passes_the_probe(fake_peer):
    from ml_lifecycle.store.connection import check_mysql_greeting

    payload = b"\x0a" + b"10.11.19-MariaDB\x00" + bytes(40)
    port = fake_peer(len(payload).to_bytes(3, "little") + b"\x00" + payload)

    check_mysql_greeting(_mysql_connection(port).mysql, timeout=2)

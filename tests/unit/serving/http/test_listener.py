"""The HTTP stack over real sockets (uvicorn + httptools + uvloop), on a fake transport-free API:
what slow, stalled, oversized, chunked and too many clients get."""

from __future__ import annotations

import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from ml_lifecycle.config.serving import ServingConfig
from ml_lifecycle.serving.http.api import HttpResponse, json_response
from ml_lifecycle.serving.http.asgi import AsgiAdapter, RequestLimits
from ml_lifecycle.serving.http.listener import Listener, bind
from ml_lifecycle.serving.http.openapi import openapi_route

LIMITS = ServingConfig(
    port=0,
    max_body_bytes=1000,
    header_timeout_seconds=0.5,
    body_timeout_seconds=0.5,
    max_connections=3,
    request_timeout_ms=300,
    max_header_bytes=2048,
    max_buffered_body_bytes=1500,
)


class EchoApi:
    """Answers the body's length; `/slow` sleeps first."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.after_runs = 0

    def handle(self, method, path, headers, body) -> HttpResponse:
        if path == "/slow":
            time.sleep(1.0)
        self.bodies.append(body)
        response = json_response(200, {"length": len(body), "path": path})
        response.after = self._after
        return response

    def _after(self) -> None:
        self.after_runs += 1


@pytest.fixture
def listener():
    api = EchoApi()
    executor = ThreadPoolExecutor(4)
    limits = RequestLimits(
        LIMITS.max_body_bytes,
        LIMITS.body_timeout_seconds,
        LIMITS.request_timeout_ms / 1000,
        LIMITS.max_buffered_body_bytes,
    )
    app = AsgiAdapter(api, limits, executor, openapi_route("serving"))
    running = Listener(app, bind("127.0.0.1", 0), LIMITS).start()
    running.api = api
    yield running
    running.stop(5)
    executor.shutdown()


def _connect(listener) -> socket.socket:
    host, port = listener.sock.getsockname()[:2]
    connection = socket.create_connection((host, port), timeout=5)
    return connection


def _read_all(connection: socket.socket) -> bytes:
    chunks = []
    while True:
        try:
            chunk = connection.recv(65536)
        except (TimeoutError, ConnectionResetError):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def _request(listener, raw: bytes) -> bytes:
    with _connect(listener) as connection:
        connection.sendall(raw)
        return _read_all(connection)


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def _post(path: str, body: bytes, extra: str = "") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n"
    ).encode() + body


def test_keep_alive_requests_and_the_after_work(listener):
    with _connect(listener) as connection:
        for index in range(3):
            body = b"x" * (index + 1)
            connection.sendall(
                f"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
            )
            answer = connection.recv(65536)
            assert _status(answer) == 200 and answer.endswith(f'"length":{index + 1},"path":"/p"}}'.encode())
    deadline = time.monotonic() + 5
    while listener.api.after_runs < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert listener.api.after_runs == 3


def test_a_client_trickling_its_headers_gets_408_and_is_closed(listener):
    with _connect(listener) as connection:
        started = time.monotonic()
        connection.sendall(b"POST /p HTTP/1.1\r\nHost: x\r\n")
        answer = _read_all(connection)
        waited = time.monotonic() - started
    assert _status(answer) == 408 and b"headers not received within 0.5 s" in answer
    assert waited < 4  # closed by the server, long before the client's own 5 s timeout


def test_a_connection_that_sends_nothing_is_closed(listener):
    with _connect(listener) as connection:
        answer = _read_all(connection)
    assert _status(answer) == 408


def test_a_stalled_body_gets_408(listener):
    with _connect(listener) as connection:
        connection.sendall(b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)
        answer = _read_all(connection)
    assert _status(answer) == 408 and b"body not received within 0.5 s" in answer
    assert listener.api.bodies == []


@pytest.mark.parametrize("length", ["\u00b2", "-3", "ten", "12, 13"])
def test_an_invalid_content_length_is_a_400(listener, length):
    answer = _request(listener, f"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\nxx".encode())
    assert _status(answer) == 400
    assert listener.api.bodies == []


def test_a_huge_declared_body_is_refused_before_it_is_sent(listener):
    answer = _request(listener, b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000\r\n\r\n")
    assert _status(answer) == 413 and b"1000000000000 bytes is over the limit of 1000 bytes" in answer


def test_chunked_bodies_are_read_and_limited(listener):
    chunked = b"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    answer = _request(listener, chunked + b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    assert _status(answer) == 200 and b'"length":11' in answer
    assert listener.api.bodies == [b"hello world"]
    too_big = chunked + b"".join(b"200\r\n" + b"y" * 512 + b"\r\n" for _ in range(3)) + b"0\r\n\r\n"
    answer = _request(listener, too_big)
    assert _status(answer) == 413 and b"over the limit of 1000 bytes" in answer
    assert len(listener.api.bodies) == 1


def test_past_the_connection_limit_new_connections_get_503_and_are_closed(listener):
    held = [_connect(listener) for _ in range(LIMITS.max_connections)]
    try:
        time.sleep(0.1)
        with _connect(listener) as extra:
            answer = _read_all(extra)
        assert _status(answer) == 503 and b"over 3 open connections" in answer
        held.pop().close()
        time.sleep(0.1)
        assert _status(_request(listener, _post("/p", b"ok"))) == 200
    finally:
        for connection in held:
            connection.close()


def test_a_request_without_an_answer_in_time_is_a_503(listener):
    answer = _request(listener, _post("/slow", b"{}"))
    assert _status(answer) == 503 and b"did not answer within 0.3 s" in answer


def test_the_openapi_document_is_served(listener):
    answer = _request(listener, b"GET /openapi.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    document = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    assert _status(answer) == 200 and document["openapi"].startswith("3.")
    assert "/v1/models/{model_name}:predict" in document["paths"]
    assert listener.api.bodies == []  # answered without the API


def test_many_concurrent_clients_are_all_answered(listener):
    failures = []

    def client() -> None:
        for _ in range(20):
            answer = _request(listener, _post("/p", b"abc"))
            if _status(answer) != 200:
                failures.append(answer[:40])

    threads = [threading.Thread(target=client) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert failures == [] and len(listener.api.bodies) == 60


def test_a_moderately_oversized_body_is_drained_so_the_client_reads_the_413(listener):
    # A client that writes its whole body before reading (as most do): refused at the headers
    # and closed, it would fail writing and never see the answer.
    request = _post("/p", b"z" * 3500)
    with _connect(listener) as connection:
        for start in range(0, len(request), 500):
            connection.sendall(request[start : start + 500])
            time.sleep(0.02)
        answer = _read_all(connection)
    assert _status(answer) == 413 and b"3500 bytes is over the limit of 1000 bytes" in answer
    assert listener.api.bodies == []


@pytest.mark.parametrize("where", ["url", "header"])
def test_headers_over_the_size_limit_get_431_and_are_closed(listener, where):
    with _connect(listener) as connection:
        if where == "url":
            connection.sendall(b"GET /" + b"a" * 4000)
        else:
            connection.sendall(b"POST /p HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 4000)
        answer = _read_all(connection)
    assert _status(answer) == 431 and b"over 2048 bytes" in answer
    # Headers plus a body in one write are not headers over the limit.
    assert _status(_request(listener, _post("/p", b"c" * 900))) == 200


def test_bodies_held_at_once_are_bounded_across_connections(listener):
    slow = _connect(listener)
    try:
        slow.sendall(b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + b"s" * 900)
        time.sleep(0.1)
        # 900 bytes held for the slow client: another 700 would pass the 1,500 in flight.
        answer = _request(listener, _post("/p", b"t" * 700))
        assert _status(answer) == 503 and b"too many request bodies" in answer
        slow.sendall(b"s" * 100)
        first = slow.recv(65536)
        assert _status(first) == 200 and b'"length":1000' in first
    finally:
        slow.close()
    # Released once answered.
    assert _status(_request(listener, _post("/p", b"t" * 700))) == 200

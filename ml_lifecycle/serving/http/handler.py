"""HTTP/1.1 with keep-alive on the standard library: request limits, then `ServingApi.handle`.

A body must come with a Content-Length (no chunked encoding) of at most `serving.max_body_bytes`;
anything else is answered 4xx before the API sees it. The response goes out in one write, and
its `after` work runs once it has.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ml_lifecycle.base.text import ascii_digits
from ml_lifecycle.serving.http.api import HttpResponse, ServingApi, error_response
from ml_lifecycle.serving.protocol.errors import ApiError

log = logging.getLogger(__name__)

# Idle keep-alive connections are closed after this many seconds, so their threads end.
IDLE_CONNECTION_SECONDS = 30.0
# Oversized bodies up to this multiple of the limit are read and discarded so the client sees the 413.
OVERSIZE_DRAIN_FACTOR = 4


class BodyTooLargeError(ApiError):
    """A declared body over the limit (413); `length` is what the client is about to send."""

    def __init__(self, length: int, limit: int) -> None:
        super().__init__(413, f"request body of {length} bytes is over the limit of {limit} bytes")
        self.length = length


def declared_length(headers: Mapping[str, str], limit: int) -> int | None:
    """The body length a request declares (None: no Content-Length, no body); an ApiError when
    the request breaks the limits: chunked (411), a malformed length (400), over `limit` (413)."""
    length_text = headers.get("Content-Length")
    if headers.get("Transfer-Encoding", "").lower() == "chunked":
        raise ApiError(411, "chunked request bodies are not supported; send Content-Length")
    if length_text is None:
        return None
    if not ascii_digits(length_text.strip()):
        raise ApiError(400, f"invalid Content-Length {length_text!r}")
    length = int(length_text)
    if length > limit:
        raise BodyTooLargeError(length, limit)
    return length


class RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in one write; without this, Nagle + delayed ACK add ~40 ms.
    disable_nagle_algorithm = True
    timeout = IDLE_CONNECTION_SECONDS
    server_version = "ml-lifecycle-serving"
    server: ServingHttpServer

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._serve("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        body = self._read_body()
        if isinstance(body, HttpResponse):
            self._write(body)
            return
        response = self.server.api.handle(method, self.path, self.headers, body)
        self._write(response)
        if response.after is not None:
            try:
                response.after()
            except Exception:  # noqa: BLE001 - bookkeeping never breaks the connection
                log.exception("after-response work failed for %s %s", method, self.path)

    def _read_body(self) -> bytes | HttpResponse:
        limit = self.server.max_body_bytes
        try:
            length = declared_length(self.headers, limit)
        except ApiError as error:
            self.close_connection = True
            if isinstance(error, BodyTooLargeError):
                self._drain(error.length, limit)
            return error_response(error.status, error.message)
        return self.rfile.read(length) if length is not None else b""

    def _drain(self, length: int, limit: int) -> None:
        # A client blocked writing its body would never read the answer: drain moderate excess
        # (in chunks, never held), and just close on absurd lengths.
        if length > OVERSIZE_DRAIN_FACTOR * limit:
            return
        remaining = length
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 1 << 20))
            if not chunk:
                break
            remaining -= len(chunk)

    def _write(self, response: HttpResponse) -> None:
        head = (
            f"HTTP/1.1 {response.status} {self.responses.get(response.status, ('',))[0]}\r\n"
            f"Content-Type: {response.content_type}\r\n"
            f"Content-Length: {len(response.body)}\r\n"
            + "".join(f"{name}: {value}\r\n" for name, value in response.headers.items())
            + ("Connection: close\r\n" if self.close_connection else "")
            + "\r\n"
        )
        self.wfile.write(head.encode("latin-1") + response.body)
        self.wfile.flush()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - http.server's signature
        log.debug("%s " + format, self.address_string(), *args)


class ServingHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    # Many clients reconnecting at once (a load test) overflow the default backlog of 5.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], api: ServingApi, max_body_bytes: int) -> None:
        self.api = api
        self.max_body_bytes = max_body_bytes
        super().__init__(address, RequestHandler)

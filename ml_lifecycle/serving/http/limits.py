"""Limits on what one client may hold: connections, time to send headers, declared body sizes.

uvicorn (httptools) parses HTTP; it limits neither how long a client may take to send its
headers nor how many connections stay open (`limit_concurrency` answers 503 only once headers
are complete, after a slow client has held its connection as long as it liked).
`guarded_protocol` adds both to uvicorn's httptools protocol:

- a connection past `max_connections` (per worker) is answered 503 and closed at once;
- a request's headers must be complete within `header_timeout_s` of its first byte, or of the
  connection opening: otherwise 408 and the connection is closed (a client that trickles its
  headers, or connects and sends nothing, holds nothing for good). Idle keep-alive connections
  are uvicorn's `timeout_keep_alive`;
- a request line and headers longer than `max_header_bytes` get 431 and the connection is
  closed (httptools would buffer a header of any length until it is complete).

Bodies are the ASGI layer's (`asgi.py`): `declared_length` refuses a Content-Length over the
limit before anything is read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ml_lifecycle.base.text import ascii_digits
from ml_lifecycle.serving.protocol.errors import ApiError

_REFUSED = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nconnection: close\r\n"
_TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\nconnection: close\r\n"
)


class BodyTooLargeError(ApiError):
    """A declared body over the limit (413); `length` is what the client is about to send."""

    def __init__(self, length: int, limit: int) -> None:
        super().__init__(413, f"request body of {length} bytes is over the limit of {limit} bytes")
        self.length = length


def declared_length(headers: Mapping[str, str], limit: int) -> int | None:
    """The body length a request declares (None: none, or chunked); an ApiError when the length
    is malformed (400) or over `limit` (413). Header names are lower case, as ASGI gives them."""
    length_text = headers.get("content-length")
    if length_text is None or headers.get("transfer-encoding", "").lower() == "chunked":
        return None
    if not ascii_digits(length_text.strip()):
        raise ApiError(400, f"invalid Content-Length {length_text!r}")
    length = int(length_text)
    if length > limit:
        raise BodyTooLargeError(length, limit)
    return length


def _answer(head: bytes, message: str) -> bytes:
    body = ('{"error": "' + message + '"}').encode()
    return head + b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body


def guarded_protocol(
    max_connections: int, header_timeout_s: float, max_header_bytes: int
) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with a connection limit, a header timeout and a header size."""

    class GuardedHttpToolsProtocol(HttpToolsProtocol):
        _header_timer: asyncio.TimerHandle | None = None
        # Bytes received while a request's headers were incomplete; a refused connection reads no more.
        _header_bytes = 0
        _refused = False

        def data_received(self, data: bytes) -> None:
            if self._refused:
                return
            super().data_received(data)
            # Still waiting for headers after this chunk: all of it was request line and headers
            # (a chunk that completes them may carry body bytes, which are not counted).
            if self._header_timer is not None and not self.transport.is_closing():
                self._header_bytes += len(data)
                if self._header_bytes > max_header_bytes:
                    self._refused = True
                    self._disarm_header_timer()
                    self.transport.write(
                        _answer(_TOO_LARGE, f"request line and headers over {max_header_bytes} bytes")
                    )
                    self.transport.close()

        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                transport.write(_answer(_REFUSED, f"over {max_connections} open connections; retry later"))
                transport.close()
                return
            self._arm_header_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_header_timer()
            super().connection_lost(exc)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm_header_timer()

        def on_headers_complete(self) -> None:
            self._disarm_header_timer()
            self._header_bytes = 0
            if self._refused:
                return
            super().on_headers_complete()

        def _arm_header_timer(self) -> None:
            self._disarm_header_timer()
            self._header_timer = self.loop.call_later(header_timeout_s, self._headers_timed_out)

        def _disarm_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_timed_out(self) -> None:
            self._header_timer = None
            # A request already being answered (pipelining) is not this timer's business.
            if self.transport.is_closing() or (self.cycle is not None and not self.cycle.response_complete):
                return
            self.transport.write(
                _answer(_TIMED_OUT, f"request headers not received within {header_timeout_s:g} s")
            )
            self.transport.close()

    return GuardedHttpToolsProtocol

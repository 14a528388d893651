"""The ASGI application uvicorn runs: request limits, then a transport-free API in a thread pool.

Any object with `handle(method, path, headers, body) -> HttpResponse` is served (`ServingApi` on
the serving port, `AdminApi` on the admin listener). What this layer owns:

- the body: at most `max_body_bytes` (413 from the declared Content-Length before anything is
  read, or as soon as a chunked body passes it), received within `body_timeout_s` of the
  headers (408, connection closed); and all requests' bodies together at most
  `max_buffered_bytes` while they are read and answered (503: many slow clients each sending
  a large body cannot make one worker hold them all);
- the call: the API runs in a bounded thread pool (the model call releases the GIL, the event
  loop keeps accepting and parsing); a request whose answer takes longer than
  `request_timeout_s` is answered 503 (the call itself cannot be interrupted and finishes in
  its thread);
- the bookkeeping: `HttpResponse.after` runs in the pool once the response is sent.

A framework (Starlette, FastAPI) was measured and left out: on this machine a minimal route
cost 0.25 ms a request on a bare ASGI app, 0.28 ms under Starlette and 0.53 ms under FastAPI,
and TF Serving's `/v1/models/{name}:predict` URLs are routed by `ServingApi` itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Protocol

from ml_lifecycle.config.serving import ServingConfig
from ml_lifecycle.serving.http.api import HttpResponse, error_response
from ml_lifecycle.serving.http.limits import BodyTooLargeError, declared_length
from ml_lifecycle.serving.protocol.errors import ApiError

log = logging.getLogger(__name__)

# Oversized bodies up to this multiple of the limit are read and discarded so the client sees the 413.
OVERSIZE_DRAIN_FACTOR = 4


class TransportFreeApi(Protocol):
    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> HttpResponse: ...


@dataclass(frozen=True)
class RequestLimits:
    max_body_bytes: int
    body_timeout_s: float
    request_timeout_s: float
    max_buffered_bytes: int = 256 * 1024 * 1024

    @classmethod
    def of(cls, serving: ServingConfig, margin_s: float = 1.0) -> RequestLimits:
        """The limits `serving` sets. The deadline is `request_timeout_ms` plus `margin_s`: the
        batcher's own deadline answers first, naming the model; this one catches what no
        batcher guards (a direct model call, an admin change)."""
        return cls(
            serving.max_body_bytes,
            serving.body_timeout_seconds,
            serving.request_timeout_ms / 1000.0 + margin_s,
            serving.max_buffered_body_bytes,
        )


class AsgiAdapter:
    """An ASGI 3 application over a transport-free API (see the module doc)."""

    def __init__(
        self,
        api: TransportFreeApi,
        limits: RequestLimits,
        executor: Executor,
        extra_routes: Mapping[tuple[str, str], Callable[[], HttpResponse]] | None = None,
        after_executor: Executor | None = None,
    ) -> None:
        self.api = api
        self.limits = limits
        self.executor = executor
        # Bookkeeping runs apart from requests, so a slow review insert never holds a request's thread.
        self.after_executor = after_executor or executor
        # (method, path) answered here without the API: /openapi.json.
        self.extra_routes = dict(extra_routes or {})
        # Body bytes held by requests being read or answered (event loop thread only).
        self.buffered_bytes = 0

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":  # uvicorn runs with lifespan off
            return
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        method = scope["method"]
        # The raw path: ServingApi percent-decodes after matching, so an encoded '/' stays inside
        # a model name and is refused there.
        path = scope["raw_path"].decode("latin-1")
        extra = self.extra_routes.get((method, path))
        if extra is not None:
            await _send(send, extra(), close=False)
            return
        held = [0]
        try:
            body = await self._read_body(headers, receive, held)
            if isinstance(body, HttpResponse):
                await _send(send, body, close=True)
                return
            response = await self._call(method, path, headers, body)
            await _send(send, response, close=False)
        finally:
            self.buffered_bytes -= held[0]
        if response.after is not None:
            asyncio.get_running_loop().run_in_executor(
                self.executor, _run_after, response.after, method, path
            )

    async def _read_body(self, headers: Mapping[str, str], receive, held: list[int]) -> bytes | HttpResponse:
        limit = self.limits.max_body_bytes
        deadline = time.monotonic() + self.limits.body_timeout_s
        try:
            length = declared_length(headers, limit)
        except BodyTooLargeError as error:
            # A client blocked writing its body would never read the answer: moderate excess is
            # read and discarded first (never held), absurd lengths are refused at once.
            if error.length <= OVERSIZE_DRAIN_FACTOR * limit:
                await _discard_body(receive, deadline)
            return error_response(error.status, error.message)
        except ApiError as error:
            return error_response(error.status, error.message)
        chunks, received, more = [], 0, True
        while more:
            remaining = deadline - time.monotonic()
            try:
                message = await asyncio.wait_for(receive(), max(remaining, 0.0))
            except asyncio.TimeoutError:
                return error_response(
                    408, f"request body not received within {self.limits.body_timeout_s:g} s"
                )
            if message["type"] == "http.disconnect":
                return error_response(400, "client disconnected before sending the whole body")
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > limit:
                if more and received <= OVERSIZE_DRAIN_FACTOR * limit:
                    await _discard_body(receive, deadline, OVERSIZE_DRAIN_FACTOR * limit - received)
                return error_response(413, f"request body is over the limit of {limit} bytes")
            if self.buffered_bytes + len(chunk) > self.limits.max_buffered_bytes:
                return error_response(503, "the server holds too many request bodies right now; retry later")
            self.buffered_bytes += len(chunk)
            held[0] += len(chunk)
            chunks.append(chunk)
            more = message.get("more_body", False)
        if length is not None and received != length:
            return error_response(400, f"request body has {received} bytes, Content-Length said {length}")
        return b"".join(chunks)

    async def _call(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> HttpResponse:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.executor, self.api.handle, method, path, headers, body)
        try:
            return await asyncio.wait_for(future, self.limits.request_timeout_s)
        except asyncio.TimeoutError:
            log.warning("%s %s: no answer within %.3g s (503)", method, path, self.limits.request_timeout_s)
            return error_response(
                503, f"the server did not answer within {self.limits.request_timeout_s:g} s; retry later"
            )


async def _discard_body(receive, deadline: float, budget: float = float("inf")) -> None:
    """Reads what is left of a body and drops it, until the deadline or past `budget` bytes."""
    more = True
    while more and budget > 0:
        try:
            message = await asyncio.wait_for(receive(), max(deadline - time.monotonic(), 0.0))
        except asyncio.TimeoutError:
            return
        if message["type"] == "http.disconnect":
            return
        budget -= len(message.get("body", b""))
        more = message.get("more_body", False)


async def _send(send, response: HttpResponse, close: bool) -> None:
    headers = [
        (b"content-type", response.content_type.encode("latin-1")),
        (b"content-length", str(len(response.body)).encode("latin-1")),
    ]
    headers += [
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in response.headers.items()
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


def _run_after(after: Callable[[], None], method: str, path: str) -> None:
    try:
        after()
    except Exception:  # noqa: BLE001 - bookkeeping never breaks serving
        log.exception("after-response work failed for %s %s", method, path)

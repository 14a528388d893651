"""The admin API, on its own listener: rollout changes (`lifecycle rollout` talks to it).

    GET  /v1/admin/models/{name}/rollout    the rollout state, its labels, the versions on disk
    POST /v1/admin/models/{name}/rollout    one RolloutAction as JSON

Never on the serving port (which answers these paths 404). What a request must pass, in order:
- no `Origin` header (403): browsers send one on cross-site requests, so a web page open on the
  operator's machine cannot reach a loopback admin listener, even with a `text/plain` body
  that needs no CORS preflight;
- the bearer token, when one is configured (`serving.admin.token_env`; required whenever admin
  listens beyond loopback): `Authorization: Bearer <token>`, compared in constant time (401);
- a POST body of content type `application/json` (415).
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import unquote

from ml_lifecycle.base.contracts import ServerPath
from ml_lifecycle.serving.http.api import HttpResponse, error_response, json_response
from ml_lifecycle.serving.protocol.errors import ApiError
from ml_lifecycle.serving.protocol.requests import parse_json
from ml_lifecycle.serving.router import RolloutAction, RolloutError, Router

log = logging.getLogger(__name__)

ROLLOUT_PATH = re.compile("^" + ServerPath.ADMIN_ROLLOUT.value.format(model="(?P<name>[^/:]+)") + "$")
JSON_TYPES = ("application/json",)


class RolloutTarget(Protocol):
    """One model as the admin API steers it."""

    name: str
    router: Router

    def available(self) -> list[int]: ...

    def labels(self) -> dict[str, int]: ...


@dataclass
class AdminApi:
    """Transport-free, like `ServingApi`: `handle(method, path, headers, body) -> HttpResponse`."""

    models: Mapping[str, RolloutTarget]
    # The bearer token; empty: none required (only allowed on loopback, checked at start).
    token: str = field(default="", repr=False)
    # Called after a change is persisted (the in-process server pins the state's versions).
    on_change: Callable[[RolloutTarget], None] | None = None

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> HttpResponse:
        try:
            self._guard(method, headers)
            return self._dispatch(method, path.split("?", 1)[0], body)
        except ApiError as error:
            response = error_response(error.status, error.message)
            if error.status == 401:
                response.headers["WWW-Authenticate"] = 'Bearer realm="ml-lifecycle admin"'
            return response
        except Exception as error:  # noqa: BLE001 - a bug answers 500 and is logged
            log.exception("admin: internal error on %s %s", method, path)
            return error_response(500, f"internal error: {type(error).__name__}")

    def _guard(self, method: str, headers: Mapping[str, str]) -> None:
        lowered = {name.lower(): value for name, value in headers.items()}
        if "origin" in lowered:
            raise ApiError(403, "the admin API refuses requests carrying an Origin header (web pages)")
        if self.token:
            scheme, _, presented = lowered.get("authorization", "").partition(" ")
            # compare_digest on bytes: constant time in the token's content.
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                presented.strip().encode("utf-8", "surrogateescape"), self.token.encode("utf-8")
            ):
                raise ApiError(401, "admin needs 'Authorization: Bearer <token>' with the configured token")
        if method == "POST":
            content_type = lowered.get("content-type", "").split(";", 1)[0].strip().lower()
            if content_type not in JSON_TYPES:
                raise ApiError(
                    415, f"admin POST bodies must be application/json, got {content_type or 'none'!r}"
                )

    def _dispatch(self, method: str, path: str, body: bytes) -> HttpResponse:
        match = ROLLOUT_PATH.match(path)
        if match is None:
            raise ApiError(404, f"no admin route {method} {unquote(path)}")
        target = self.models.get(unquote(match["name"]))
        if target is None:
            raise ApiError(404, f"no model {unquote(match['name'])!r} on this server")
        if method == "GET":
            return json_response(200, rollout_json(target))
        if method != "POST":
            raise ApiError(405, f"method {method} not allowed on {path}")
        try:
            action = RolloutAction.from_json(parse_json(body))
            target.router.apply(action, target.available())
        except RolloutError as error:
            raise ApiError(400, f"model {target.name!r}: {error}") from error
        if self.on_change is not None:
            self.on_change(target)
        return json_response(200, rollout_json(target))


def rollout_json(target: RolloutTarget) -> dict:
    """The admin route's answer: the rollout state, the labels it sets and the versions available."""
    return {
        "model": target.name,
        "state": target.router.state.to_json(),
        "labels": target.labels(),
        "available": target.available(),
    }

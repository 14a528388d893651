"""The admin API without sockets: rollout changes, and what it refuses (Origin, token, content type);
the start-up check that keeps admin off the network without a token."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ml_lifecycle.base.errors import ConfigError
from ml_lifecycle.config.serving import AdminConfig, ServingConfig
from ml_lifecycle.serving.http.admin import AdminApi
from ml_lifecycle.serving.http.build import MIN_TOKEN_CHARS, admin_token
from tests.unit.serving.http.test_api import ROW, _api, call

TOKEN = "s3cret-token-0123456789"
ROLLOUT = "/v1/admin/models/taxi/rollout"
JSON_TYPE = {"Content-Type": "application/json"}


def admin_call(admin, method, path, body=None, headers=None):
    raw = json.dumps(body).encode() if body is not None else b""
    response = admin.handle(method, path, headers or {}, raw)
    return response.status, json.loads(response.body), response


def test_a_rollout_change_is_applied_pinned_and_served(served):
    pinned = []
    admin = AdminApi({"taxi": served}, on_change=lambda model: pinned.append(model.router.state.versions()))
    status, body, _ = admin_call(
        admin, "POST", ROLLOUT, {"action": "canary", "version": 1, "fraction": 0.2}, JSON_TYPE
    )
    assert status == 200 and body["state"]["canary"] == 1 and body["labels"]["canary"] == 1
    assert pinned == [{1, 2}]
    status, answer = call(_api(served), "POST", "/v1/models/taxi/labels/canary:predict", {"instances": [ROW]})
    assert status == 200 and np.allclose(answer["predictions"], [[0.1]])
    status, body, _ = admin_call(admin, "POST", ROLLOUT, {"action": "canary", "version": 7}, JSON_TYPE)
    assert status == 400 and "version 7 is not AVAILABLE" in body["error"]
    status, body, _ = admin_call(admin, "GET", ROLLOUT)
    assert status == 200 and body["state"]["canary"] == 1 and body["available"] == [1, 2]
    status, body, _ = admin_call(admin, "GET", "/v1/admin/models/other/rollout")
    assert status == 404 and "other" in body["error"]


@pytest.mark.parametrize(
    "headers, status, message",
    [
        ({**JSON_TYPE, "Origin": "https://evil.example"}, 403, "Origin"),
        ({"Content-Type": "text/plain"}, 415, "application/json, got 'text/plain'"),
        ({}, 415, "got 'none'"),
        ({"Content-Type": "application/x-www-form-urlencoded"}, 415, "application/json"),
    ],
)
def test_what_a_web_page_could_send_is_refused(served, headers, status, message):
    admin = AdminApi({"taxi": served})
    answer, body, _ = admin_call(admin, "POST", ROLLOUT, {"action": "canary", "version": 1}, headers)
    assert answer == status and message in body["error"]
    assert served.router.state.canary is None


@pytest.mark.parametrize(
    "authorization, status",
    [
        (None, 401),
        ("Bearer wrong-token-0123456789", 401),
        (f"Basic {TOKEN}", 401),
        (f"Bearer {TOKEN}x", 401),
        (f"Bearer {TOKEN}", 200),
        (f"bearer {TOKEN}", 200),
    ],
)
def test_with_a_token_only_the_right_bearer_passes(served, authorization, status):
    admin = AdminApi({"taxi": served}, token=TOKEN)
    headers = dict(JSON_TYPE)
    if authorization is not None:
        headers["Authorization"] = authorization
    answer, body, response = admin_call(admin, "POST", ROLLOUT, {"action": "canary", "version": 1}, headers)
    assert answer == status
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert TOKEN not in json.dumps(body)
        assert served.router.state.canary is None
    else:
        assert served.router.state.canary == 1
    # Reads need the token too.
    assert admin_call(admin, "GET", ROLLOUT, headers=headers)[0] == status


def test_admin_beyond_loopback_needs_a_token_and_the_error_never_shows_it():
    with pytest.raises(ConfigError, match="beyond loopback: set serving.admin.token_env"):
        admin_token(ServingConfig(admin=AdminConfig(host="0.0.0.0")), {})
    config = ServingConfig(admin=AdminConfig(host="0.0.0.0", token_env="ADMIN_TOKEN"))
    with pytest.raises(ConfigError, match="ADMIN_TOKEN is unset or empty"):
        admin_token(config, {})
    short = "x" * (MIN_TOKEN_CHARS - 1)
    with pytest.raises(ConfigError, match="too short") as refused:
        admin_token(config, {"ADMIN_TOKEN": short})
    assert short not in str(refused.value)
    assert admin_token(config, {"ADMIN_TOKEN": TOKEN}) == TOKEN
    # On loopback no token is needed, and one configured is required.
    assert admin_token(ServingConfig(), {}) == ""
    assert (
        admin_token(ServingConfig(admin=AdminConfig(token_env="ADMIN_TOKEN")), {"ADMIN_TOKEN": TOKEN})
        == TOKEN
    )

"""`lifecycle rollout` against a real admin listener (uvicorn, the AdminApi, a rollout state file):
it sends the configured bearer token, and says so when the token is missing here."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from ml_lifecycle.cli.main import main
from ml_lifecycle.config.serving import ServingConfig
from ml_lifecycle.serving.http.admin import AdminApi
from ml_lifecycle.serving.http.asgi import AsgiAdapter, RequestLimits
from ml_lifecycle.serving.http.listener import Listener, bind
from ml_lifecycle.serving.http.workers import DiskRolloutTarget
from ml_lifecycle.serving.router import Router

TOKEN = "cli-admin-token-0123456789"


@pytest.fixture
def admin_listener(make_project, tmp_path):
    project = make_project()
    config = yaml.safe_load((project / "lifecycle.yaml").read_text())
    config.setdefault("serving", {})["admin"] = {"token_env": "TEST_ADMIN_TOKEN"}
    (project / "lifecycle.yaml").write_text(yaml.safe_dump(config))
    for version in (1, 2):
        (tmp_path / "models" / str(version)).mkdir(parents=True)
        (tmp_path / "models" / str(version) / "saved_model.pb").write_bytes(b"x")
    router = Router("taxi", tmp_path / "state" / "taxi.json")
    router.load({1, 2})
    target = DiskRolloutTarget("taxi", router, tmp_path / "models")
    executor = ThreadPoolExecutor(2)
    app = AsgiAdapter(AdminApi({"taxi": target}, TOKEN), RequestLimits(10_000, 5, 5), executor)
    listener = Listener(app, bind("127.0.0.1", 0), ServingConfig()).start()
    yield project, listener.url, router
    listener.stop(5)
    executor.shutdown()


def _rollout(project, url, *args) -> int:
    return main(["--config", str(project / "lifecycle.yaml"), "rollout", "--url", url, *args])


def test_rollout_sends_the_token_from_the_configured_variable(admin_listener, monkeypatch, capsys):
    project, url, router = admin_listener
    monkeypatch.setenv("TEST_ADMIN_TOKEN", TOKEN)
    assert _rollout(project, url, "canary", "1", "--fraction", "0.3") == 0
    out = capsys.readouterr().out
    assert "canary   1 (30.0% of traffic" in out
    assert Router("taxi", router.state_file, writes_state=False).load({1, 2}).canary == 1


def test_a_wrong_token_is_refused_and_nothing_changes(admin_listener, monkeypatch, capsys):
    project, url, router = admin_listener
    monkeypatch.setenv("TEST_ADMIN_TOKEN", "not-the-token-0123456789")
    assert _rollout(project, url, "canary", "1") == 2
    err = capsys.readouterr().err
    assert "HTTP 401" in err and "Authorization: Bearer" in err and "not-the-token" not in err
    assert Router("taxi", router.state_file, writes_state=False).load({1, 2}).canary is None


def test_an_unset_token_variable_is_a_usage_error_before_any_request(admin_listener, monkeypatch, capsys):
    project, url, _ = admin_listener
    monkeypatch.delenv("TEST_ADMIN_TOKEN", raising=False)
    assert _rollout(project, url, "status") == 2
    assert (
        "serving.admin.token_env names TEST_ADMIN_TOKEN, which is unset or empty" in capsys.readouterr().err
    )

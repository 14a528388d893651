"""`lifecycle rollout ...`: arguments -> admin request bodies, the state printout, unreachable servers."""

from __future__ import annotations

import pytest

from ml_lifecycle.cli.main import build_parser
from ml_lifecycle.cli.serve_commands import ServerUnreachableError, format_rollout, http_json, rollout_request
from ml_lifecycle.serving.router import RolloutAction


def _request(*argv, default_fraction=0.1):
    args = build_parser().parse_args(["rollout", *argv])
    return rollout_request(args, default_fraction)


@pytest.mark.parametrize(
    "argv, body",
    [
        (["stable", "7"], {"action": "stable", "version": 7}),
        (["canary", "8"], {"action": "canary", "version": 8, "fraction": 0.1}),
        (["canary", "8", "--fraction", "0.25"], {"action": "canary", "version": 8, "fraction": 0.25}),
        (["promote"], {"action": "promote"}),
        (["rollback"], {"action": "rollback"}),
        (["shadow", "8"], {"action": "shadow", "version": 8}),
        (["shadow", "--off"], {"action": "shadow_off"}),
        (
            ["blue-green", "--blue", "7", "--green", "8", "--active", "green"],
            {"action": "blue_green", "blue": 7, "green": 8, "color": "green"},
        ),
        (["switch", "--to", "blue"], {"action": "switch", "color": "blue"}),
    ],
)
def test_each_command_becomes_an_action_the_server_accepts(argv, body):
    assert _request(*argv) == body
    RolloutAction.from_json(body)  # the admin endpoint's own validation


def test_shadow_needs_a_version_or_off():
    with pytest.raises(ValueError, match="give a VERSION, or --off"):
        _request("shadow")


def test_state_printout_names_every_role():
    text = format_rollout(
        {
            "model": "taxi",
            "available": [7, 8],
            "state": {"stable": 7, "canary": 8, "canary_fraction": 0.25, "shadow": 8, "previous_stable": 6},
            "labels": {"stable": 7, "canary": 8, "shadow": 8},
        }
    )
    assert "stable   7" in text and "canary   8 (25.0% of traffic" in text and "shadow   8" in text
    assert "previous 6 (rollback target)" in text


def test_unreachable_server_is_a_user_error():
    with pytest.raises(ServerUnreachableError, match="no server answers"):
        http_json("GET", "http://127.0.0.1:1/v1/alerts", timeout=2)
    assert issubclass(ServerUnreachableError, ValueError)  # printed once by the CLI, exit code 2

"""Rollout state changes, routing (canary split and stickiness, shadow, blue/green) and persistence."""

from __future__ import annotations

import json

import pytest

from ml_lifecycle.serving.router import (
    NoVersionToServeError,
    RolloutAction,
    RolloutError,
    RolloutState,
    Router,
    apply_action,
    canary_bucket,
    route,
)

AVAILABLE = {1, 2, 3}


def test_canary_needs_an_available_version_other_than_stable():
    state = RolloutState(stable=1)
    with pytest.raises(RolloutError, match="version 9 is not AVAILABLE"):
        apply_action(state, RolloutAction("canary", version=9, fraction=0.1), AVAILABLE)
    with pytest.raises(RolloutError, match="already the stable"):
        apply_action(state, RolloutAction("canary", version=1, fraction=0.1), AVAILABLE)
    with pytest.raises(RolloutError, match="no stable version"):
        apply_action(RolloutState(), RolloutAction("canary", version=2, fraction=0.1), AVAILABLE)


def test_promote_then_rollback_returns_to_the_previous_stable():
    state = apply_action(RolloutState(stable=1), RolloutAction("canary", version=2, fraction=0.2), AVAILABLE)
    assert (state.canary, state.canary_fraction, state.labels()) == (2, 0.2, {"stable": 1, "canary": 2})
    promoted = apply_action(state, RolloutAction("promote"), AVAILABLE)
    assert (promoted.stable, promoted.canary, promoted.previous_stable) == (2, None, 1)
    rolled_back = apply_action(promoted, RolloutAction("rollback"), AVAILABLE)
    assert (rolled_back.stable, rolled_back.previous_stable) == (1, 2)


def test_rollback_of_a_canary_sends_all_traffic_to_stable():
    state = apply_action(RolloutState(stable=1), RolloutAction("canary", version=2, fraction=0.5), AVAILABLE)
    state = apply_action(state, RolloutAction("rollback"), AVAILABLE)
    assert (state.stable, state.canary, state.canary_fraction) == (1, None, 0.0)
    assert {route(state, f"key-{i}").version for i in range(200)} == {1}


def test_blue_green_switch_and_switch_back():
    state = apply_action(RolloutState(stable=1), RolloutAction("blue_green", blue=1, green=2), AVAILABLE)
    assert route(state, "k").version == 1 and route(state, "k").route == "blue"
    state = apply_action(state, RolloutAction("switch"), AVAILABLE)
    assert (route(state, "k").version, route(state, "k").route) == (2, "green")
    state = apply_action(state, RolloutAction("rollback"), AVAILABLE)
    assert (route(state, "k").version, route(state, "k").route) == (1, "blue")
    with pytest.raises(RolloutError, match="different versions"):
        apply_action(state, RolloutAction("blue_green", blue=3, green=3), AVAILABLE)
    with pytest.raises(RolloutError, match="no blue/green pair"):
        apply_action(RolloutState(stable=1), RolloutAction("switch"), AVAILABLE)


def test_canary_share_within_tolerance_and_sticky_by_key():
    state = RolloutState(stable=1, canary=2, canary_fraction=0.1)
    decisions = [route(state, f"user-{i}") for i in range(2000)]
    canary_share = sum(d.version == 2 for d in decisions) / len(decisions)
    # Binomial(2000, 0.1): standard deviation 0.0067; 4 sigma.
    assert abs(canary_share - 0.1) < 0.027
    assert all(route(state, f"user-{i}") == decisions[i] for i in range(2000))
    assert {d.route for d in decisions} == {"stable", "canary"}


def test_a_bigger_canary_fraction_keeps_earlier_canary_keys_on_the_canary():
    keys = [f"user-{i}" for i in range(500)]
    small = RolloutState(stable=1, canary=2, canary_fraction=0.1)
    large = RolloutState(stable=1, canary=2, canary_fraction=0.3)
    on_canary = {k for k in keys if route(small, k).version == 2}
    assert on_canary and all(route(large, k).version == 2 for k in on_canary)
    assert 0.0 <= canary_bucket("x") < 1.0 and canary_bucket("x") == canary_bucket("x")


def test_requests_without_a_key_are_split_by_draw():
    state = RolloutState(stable=1, canary=2, canary_fraction=0.25)
    assert route(state, None, draw=0.2).version == 2
    assert route(state, None, draw=0.3).version == 1


def test_shadow_is_attached_to_routed_requests_but_not_to_itself():
    state = RolloutState(stable=1, shadow=2)
    assert route(state, "k").shadow_version == 2
    assert route(RolloutState(stable=2, shadow=2), "k").shadow_version is None
    with pytest.raises(NoVersionToServeError):
        route(RolloutState(), "k")


def test_action_json_is_validated():
    assert RolloutAction.from_json({"action": "canary", "version": 2, "fraction": 0.5}).fraction == 0.5
    for bad, message in [
        ([], "JSON object"),
        ({"action": "explode"}, "unknown action"),
        ({"action": "canary", "version": "2"}, "integer version"),
        ({"action": "canary", "version": 2, "fraction": 1.5}, r"fraction must be a number in \[0, 1\]"),
        ({"action": "switch", "color": "red"}, "blue' or 'green"),
        ({"action": "stable", "versions": 2}, "unknown field"),
    ]:
        with pytest.raises(RolloutError, match=message):
            RolloutAction.from_json(bad)


def test_router_persists_and_restores_state(tmp_path):
    state_file = tmp_path / "state" / "taxi.json"
    router = Router("taxi", state_file)
    assert router.load({1, 2}).stable == 2  # nothing persisted: the newest version
    router.apply(RolloutAction("canary", version=1, fraction=0.3), {1, 2})
    restarted = Router("taxi", state_file)
    state = restarted.load({1, 2})
    assert (state.stable, state.canary, state.canary_fraction) == (2, 1, 0.3)
    # Version 1 is gone after a restart: its canary goes, stable stays.
    state = Router("taxi", state_file).load({2, 3})
    assert (state.stable, state.canary, state.canary_fraction) == (2, None, 0.0)
    assert json.loads(state_file.read_text())["canary"] is None


def test_failed_change_keeps_state_and_file(tmp_path):
    router = Router("taxi", tmp_path / "taxi.json")
    router.load({1, 2})
    before = (tmp_path / "taxi.json").read_text()
    with pytest.raises(RolloutError):
        router.apply(RolloutAction("promote"), {1, 2})
    assert router.state.stable == 2 and (tmp_path / "taxi.json").read_text() == before


def test_unreadable_state_file_falls_back_to_newest(tmp_path):
    (tmp_path / "taxi.json").write_text("{not json")
    assert Router("taxi", tmp_path / "taxi.json").load({4, 7}).stable == 7


def test_new_version_policy(tmp_path):
    router = Router("taxi", None)
    router.load({1})
    router.on_new_version(2, "canary", 0.2, {1, 2})
    assert (router.state.stable, router.state.canary, router.state.canary_fraction) == (1, 2, 0.2)
    router.on_new_version(3, "hold", 0.2, {1, 2, 3})
    assert router.state.canary == 2
    router.on_new_version(3, "serve", 0.2, {1, 2, 3})
    assert (router.state.stable, router.state.canary) == (3, None)


def test_a_restart_keeps_a_persisted_stable_version_the_policy_alone_would_not_load(tmp_path):
    from ml_lifecycle.config.serving import AdminConfig, ServingConfig, VersionPolicyConfig
    from ml_lifecycle.serving.http.api import ServedModel, ServingServices
    from ml_lifecycle.serving.http.server import ModelServer
    from ml_lifecycle.serving.inference.repository import ModelRepository
    from ml_lifecycle.serving.protocol.values import FeatureRules

    for version in (1, 2, 3):
        (tmp_path / "taxi" / str(version)).mkdir(parents=True)
        (tmp_path / "taxi" / str(version) / "saved_model.pb").write_bytes(b"x")
    state_file = tmp_path / "state" / "taxi.json"
    Router("taxi", state_file).load({1, 2, 3})
    Router("taxi", state_file).apply(RolloutAction("stable", version=1), {1, 2, 3})

    def start():
        repository = ModelRepository(
            "taxi", tmp_path / "taxi", VersionPolicyConfig(num_versions=1), loader=lambda n, v, p: v
        )
        served = ServedModel(repository, Router("taxi", state_file), FeatureRules())
        config = ServingConfig(port=0, admin=AdminConfig(port=0))
        return ModelServer(config, {"taxi": served}, ServingServices(), "127.0.0.1", 0).start()

    server = start()
    try:
        served = server.models["taxi"]
        assert served.router.state.stable == 1
        assert served.repository.available() == [1, 3]  # the policy's newest, and the pinned stable
    finally:
        server.stop()

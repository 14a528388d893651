"""Several processes on one rollout state file: changes are read-modify-writes under a lock (none
lost), followers adopt what the file says once the versions it names are loaded."""

from __future__ import annotations

import threading

from ml_lifecycle.config.serving import AdminConfig, ServingConfig, VersionPolicyConfig
from ml_lifecycle.serving.http.api import ServedModel, ServingServices
from ml_lifecycle.serving.http.server import ModelServer
from ml_lifecycle.serving.inference.repository import ModelRepository
from ml_lifecycle.serving.protocol.values import FeatureRules
from ml_lifecycle.serving.router import RolloutAction, Router


def test_a_follower_sees_the_change_another_router_wrote_and_never_writes(tmp_path):
    state_file = tmp_path / "taxi.json"
    writer = Router("taxi", state_file)
    writer.load({1, 2})
    follower = Router("taxi", state_file, writes_state=False)
    follower.load({1, 2})
    assert follower.persisted_change() is None  # nothing new since it read the file
    writer.apply(RolloutAction("canary", version=1, fraction=0.25), {1, 2})
    changed = follower.persisted_change()
    assert changed is not None and (changed.stable, changed.canary, changed.canary_fraction) == (2, 1, 0.25)
    assert follower.state.canary is None  # not adopted yet
    follower.adopt(changed, {1, 2})
    assert follower.state == changed
    assert follower.persisted_change() is None
    # Adopting where version 1 is not loaded drops the canary, and the follower writes nothing.
    before = state_file.read_text()
    follower.adopt(changed, {2})
    assert follower.state.canary is None and state_file.read_text() == before


def test_changes_from_two_writers_apply_to_the_newest_state(tmp_path):
    state_file = tmp_path / "taxi.json"
    first, second = Router("taxi", state_file), Router("taxi", state_file)
    first.load({1, 2, 3})
    second.load({1, 2, 3})
    first.apply(RolloutAction("canary", version=1, fraction=0.5), {1, 2, 3})
    # `second` never read that change, yet its action applies on top of it.
    second.apply(RolloutAction("shadow", version=2), {1, 2, 3})
    final = Router("taxi", state_file, writes_state=False).load({1, 2, 3})
    assert (final.canary, final.shadow) == (1, 2)


def test_concurrent_writers_each_apply_to_the_state_the_last_one_left(tmp_path):
    state_file = tmp_path / "taxi.json"
    Router("taxi", state_file).load({1, 2, 3, 4})
    results, lock = [], threading.Lock()

    def set_stable(router: Router, version: int) -> None:
        for _ in range(20):
            state = router.apply(RolloutAction("stable", version=version), {1, 2, 3, 4})
            with lock:
                results.append(state)

    threads = [
        threading.Thread(target=set_stable, args=(Router("taxi", state_file), version))
        for version in (1, 2, 3, 4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    # Serialised read-modify-writes form one chain: each change's rollback target is the stable
    # version the previous change left (kept when the version does not change); a writer acting
    # on a stale copy would break it.
    chain = sorted(results, key=lambda state: state.updated_s)
    assert len(chain) == 80
    for earlier, later in zip(chain, chain[1:], strict=False):
        expected = earlier.stable if earlier.stable != later.stable else earlier.previous_stable
        assert later.previous_stable == expected


def _server(tmp_path, state_file, leader: bool, num_versions: int) -> ModelServer:
    repository = ModelRepository(
        "taxi", tmp_path / "taxi", VersionPolicyConfig(num_versions=num_versions), loader=lambda n, v, p: v
    )
    served = ServedModel(repository, Router("taxi", state_file, writes_state=leader), FeatureRules())
    config = ServingConfig(port=0, admin=AdminConfig(port=0))
    return ModelServer(config, {"taxi": served}, ServingServices(), "127.0.0.1", 0, leader=leader)


def test_a_follower_worker_loads_a_version_the_state_names_before_routing_to_it(tmp_path):
    for version in (1, 2, 3):
        (tmp_path / "taxi" / str(version)).mkdir(parents=True)
        (tmp_path / "taxi" / str(version) / "saved_model.pb").write_bytes(b"x")
    state_file = tmp_path / "state" / "taxi.json"
    leader = _server(tmp_path, state_file, leader=True, num_versions=1)
    follower = _server(tmp_path, state_file, leader=False, num_versions=1)
    leader.load_models()
    follower.load_models()
    assert follower.models["taxi"].repository.available() == [3]
    # The admin listener (elsewhere) sets version 1 stable.
    Router("taxi", state_file).apply(RolloutAction("stable", version=1), {1, 2, 3})
    served = follower.models["taxi"]
    # First pass: version 1's files are seen for the first time (they might still be copying),
    # so it is not loaded yet and the follower keeps routing on the state it has.
    follower.follow_rollout_state()
    assert served.router.state.stable == 3
    # Next pass: the files have not changed, version 1 loads, the state is adopted.
    follower.follow_rollout_state()
    assert served.router.state.stable == 1 and served.router.state.previous_stable == 3
    assert 1 in served.repository.available()
    # Nothing changed since: another pass does nothing.
    follower.follow_rollout_state()
    assert served.router.state.stable == 1


def test_a_follower_keeps_its_state_when_the_new_stable_version_fails_to_load(tmp_path):
    for version in (1, 2):
        (tmp_path / "taxi" / str(version)).mkdir(parents=True)
        (tmp_path / "taxi" / str(version) / "saved_model.pb").write_bytes(b"x")
    state_file = tmp_path / "state" / "taxi.json"
    follower = _server(tmp_path, state_file, leader=False, num_versions=1)
    follower.load_models()

    def broken_one(name, version, path):
        if version == 1:
            raise ValueError("file is too short to be an sstable")
        return version

    follower.models["taxi"].repository.loader = broken_one
    Router("taxi", state_file).apply(RolloutAction("stable", version=1), {1, 2})
    for _ in range(3):
        follower.follow_rollout_state()
    served = follower.models["taxi"]
    # Still serving version 2: adopting would have left no stable version (every request a 503).
    assert served.router.state.stable == 2
    assert served.repository.available() == [2]

"""Which version answers a request: stable, a sticky canary, blue/green, plus a shadow copy.

The rollout state is an immutable value. A change builds a new state, checks it against the
versions that are AVAILABLE, writes it to a JSON file (atomically, so a restart keeps it) and then
swaps one reference: a request routes on whichever state it read first and is never dropped by
a change (the version it was routed to stays in memory while the request holds it).
TF Serving has labels but no traffic split or shadow; KServe's canary percent and Seldon's shadow
are the conventions followed here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ml_lifecycle.base.errors import LifecycleError
from ml_lifecycle.serving.state_file import SharedStateFile

log = logging.getLogger(__name__)

Color = Literal["blue", "green"]


class RolloutError(LifecycleError, ValueError):
    """A rollout change that cannot be applied (unknown or unavailable version, nothing to promote...)."""


@dataclass(frozen=True)
class RolloutState:
    stable: int | None = None
    canary: int | None = None
    canary_fraction: float = 0.0
    shadow: int | None = None
    blue: int | None = None
    green: int | None = None
    active_color: Color | None = None
    # What `rollback` returns to after a promote or a set-stable.
    previous_stable: int | None = None
    updated_s: float = 0.0

    def labels(self) -> dict[str, int]:
        """Rollout labels usable as `/labels/{label}` in TF Serving URLs."""
        candidates = {
            "stable": self.stable,
            "canary": self.canary,
            "shadow": self.shadow,
            "blue": self.blue,
            "green": self.green,
        }
        return {label: version for label, version in candidates.items() if version is not None}

    def versions(self) -> set[int]:
        """Versions that must stay loaded while this state is in force (the rollback target too)."""
        return set(self.labels().values()) | (
            {self.previous_stable} if self.previous_stable is not None else set()
        )

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> RolloutState:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class RolloutAction:
    """One `lifecycle rollout` command, as the admin endpoint receives it."""

    action: Literal["stable", "canary", "promote", "rollback", "shadow", "shadow_off", "blue_green", "switch"]
    version: int | None = None
    fraction: float | None = None
    blue: int | None = None
    green: int | None = None
    color: Color | None = None

    @classmethod
    def from_json(cls, data: object) -> RolloutAction:
        if not isinstance(data, dict) or "action" not in data:
            raise RolloutError('rollout request: expected a JSON object with an "action"')
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise RolloutError(f"rollout request: unknown field(s) {unknown}; known: {sorted(known)}")
        if data["action"] not in _ACTIONS:
            raise RolloutError(
                f"rollout request: unknown action {data['action']!r}; expected one of {_ACTIONS}"
            )
        for name in ("version", "blue", "green"):
            value = data.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise RolloutError(f"rollout request: {name} must be an integer version, got {value!r}")
        fraction = data.get("fraction")
        if fraction is not None and (
            isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction <= 1
        ):
            raise RolloutError(f"rollout request: fraction must be a number in [0, 1], got {fraction!r}")
        if data.get("color") not in (None, "blue", "green"):
            raise RolloutError(f"rollout request: color must be 'blue' or 'green', got {data['color']!r}")
        return cls(**data)


_ACTIONS = ("stable", "canary", "promote", "rollback", "shadow", "shadow_off", "blue_green", "switch")


def _require(version: int | None, available: set[int], what: str) -> int:
    if version is None:
        raise RolloutError(f"{what}: give a version")
    if version not in available:
        raise RolloutError(f"{what}: version {version} is not AVAILABLE (available: {sorted(available)})")
    return version


def apply_action(state: RolloutState, action: RolloutAction, available: Iterable[int]) -> RolloutState:
    """The state after `action`; raises RolloutError, leaving `state` in force, when it cannot apply."""
    available = set(available)
    replace = dataclasses.replace
    kind = action.action
    if kind == "stable":
        version = _require(action.version, available, "stable")
        return replace(
            state,
            stable=version,
            previous_stable=state.stable if state.stable != version else state.previous_stable,
            canary=None,
            canary_fraction=0.0,
            blue=None,
            green=None,
            active_color=None,
        )
    if kind == "canary":
        version = _require(action.version, available, "canary")
        if state.stable is None:
            raise RolloutError("canary: there is no stable version to split traffic with")
        if version == state.stable:
            raise RolloutError(f"canary: version {version} is already the stable version")
        fraction = state.canary_fraction if action.fraction is None else action.fraction
        return replace(state, canary=version, canary_fraction=fraction)
    if kind == "promote":
        if state.canary is None:
            raise RolloutError("promote: there is no canary to promote")
        return replace(
            state,
            stable=state.canary,
            previous_stable=state.stable,
            canary=None,
            canary_fraction=0.0,
            blue=None,
            green=None,
            active_color=None,
        )
    if kind == "rollback":
        if state.canary is not None:
            # All traffic back to stable at once; the canary stays loaded for a later retry.
            return replace(state, canary=None, canary_fraction=0.0)
        if state.active_color is not None:
            return _switch(state, None, available)
        if state.previous_stable is not None:
            previous = _require(state.previous_stable, available, "rollback")
            return replace(state, stable=previous, previous_stable=state.stable)
        raise RolloutError("rollback: no canary, no blue/green pair and no previous stable version")
    if kind == "shadow":
        version = _require(action.version, available, "shadow")
        return replace(state, shadow=version)
    if kind == "shadow_off":
        return replace(state, shadow=None)
    if kind == "blue_green":
        blue = _require(action.blue, available, "blue_green blue")
        green = _require(action.green, available, "blue_green green")
        if blue == green:
            raise RolloutError("blue_green: blue and green must be different versions")
        color = action.color or "blue"
        active = blue if color == "blue" else green
        return replace(
            state,
            blue=blue,
            green=green,
            active_color=color,
            stable=active,
            previous_stable=state.stable if state.stable != active else state.previous_stable,
            canary=None,
            canary_fraction=0.0,
        )
    if kind == "switch":
        return _switch(state, action.color, available)
    raise RolloutError(f"unknown rollout action {kind!r}")


def _switch(state: RolloutState, color: Color | None, available: set[int]) -> RolloutState:
    if state.active_color is None:
        raise RolloutError("switch: no blue/green pair is set up (use blue_green first)")
    target = color or ("green" if state.active_color == "blue" else "blue")
    version = _require(state.blue if target == "blue" else state.green, available, f"switch to {target}")
    return dataclasses.replace(
        state,
        active_color=target,
        stable=version,
        previous_stable=state.stable,
        canary=None,
        canary_fraction=0.0,
    )


def canary_bucket(key: str) -> float:
    """A stable position in [0, 1) for a routing key: the same key always lands on the same side."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass(frozen=True)
class RouteDecision:
    version: int
    # "stable", "canary", "blue", "green": the split; "version" / "label:<l>": the client chose.
    route: str
    shadow_version: int | None = None


class NoVersionToServeError(LifecycleError, LookupError):
    """No stable version yet (nothing pushed, or every version failed to load)."""


def route(state: RolloutState, key: str | None, draw: float | None = None) -> RouteDecision:
    """The version for a request that names none. Keyed requests are sticky; others draw at random."""
    if state.stable is None:
        raise NoVersionToServeError("no version is serving yet")
    shadow = state.shadow
    if state.canary is not None and state.canary_fraction > 0:
        position = canary_bucket(key) if key else (random.random() if draw is None else draw)
        if position < state.canary_fraction:
            return RouteDecision(state.canary, "canary", shadow if shadow != state.canary else None)
    label = state.active_color if state.active_color is not None else "stable"
    return RouteDecision(state.stable, label, shadow if shadow != state.stable else None)


class Router:
    """Holds one model's rollout state; changes are validated, persisted, then swapped in.

    Several processes may share one state file (the workers of one server, and the admin
    listener). Every change is a read-modify-write of the file under its lock
    (`state_file.SharedStateFile`), so a change is applied to the newest persisted state and none
    is lost; the other processes follow the file (`persisted_change`, then `adopt` once the
    versions it names are loaded). `writes_state=False` (a follower) never writes the file, not
    even when starting.
    """

    def __init__(self, model_name: str, state_file: Path | None, *, writes_state: bool = True) -> None:
        self.model_name = model_name
        self.state_file = state_file
        self.writes_state = writes_state
        self._file = SharedStateFile(state_file)
        self._state = RolloutState()
        self._lock = threading.Lock()
        # The last persisted state refused by `adopt` (logged once).
        self._refused: RolloutState | None = None

    @property
    def state(self) -> RolloutState:
        return self._state

    def load(self, available: Iterable[int]) -> RolloutState:
        """Restores the persisted state; versions no longer available are dropped from it, and a
        missing stable falls back to the newest available version."""
        available = set(available)
        with self._lock, self._file.lock():
            state = _drop_unavailable(self.read_persisted() or RolloutState(), available)
            if state.stable is None and available:
                state = dataclasses.replace(state, stable=max(available))
            self._state = state
            if self.writes_state:
                self._file.write(state.to_json())
        return state

    def apply(self, action: RolloutAction, available: Iterable[int]) -> RolloutState:
        """Applies `action` to the newest persisted state (another process may have changed it)."""
        return self._change(lambda _current: action, available)

    def on_new_version(
        self, version: int, policy: str, canary_fraction: float, available: Iterable[int]
    ) -> None:
        """A newly pushed version is AVAILABLE: act as `serving.rollout.on_new_version` says."""

        def action_for(current: RolloutState) -> RolloutAction | None:
            if current.stable is None or policy == "serve":
                return RolloutAction("stable", version=version)
            if policy == "canary":
                return RolloutAction("canary", version=version, fraction=canary_fraction)
            if policy == "shadow":
                return RolloutAction("shadow", version=version)
            return None

        try:
            self._change(action_for, available)
        except RolloutError as error:
            log.warning("model %s: new version %d not rolled out: %s", self.model_name, version, error)

    def _change(
        self, action_for: Callable[[RolloutState], RolloutAction | None], available: Iterable[int]
    ) -> RolloutState:
        """The locked read-modify-write: the action is chosen against the newest persisted state."""
        with self._lock, self._file.lock():
            current = self.read_persisted() or self._state
            action = action_for(current)
            if action is None:
                return current
            state = dataclasses.replace(apply_action(current, action, available), updated_s=time.time())
            self._file.write(state.to_json())
            self._state = state
        log.info("model %s rollout %s -> %s", self.model_name, action, state)
        return state

    # -- following the file ---------------------------------------------------------------------

    def persisted_change(self) -> RolloutState | None:
        """The persisted state if the file changed since this router last read or wrote it."""
        return self.read_persisted() if self._file.changed() else None

    def adopt(self, state: RolloutState, available: Iterable[int]) -> RolloutState | None:
        """Routes on a persisted state from now on, minus versions that are not available here.
        A state whose stable version is not available here is not adopted (None): this process
        keeps routing on the state it has, and the next `persisted_change` offers it again."""
        available = set(available)
        if state.stable is not None and state.stable not in available:
            if self._refused != state:
                log.error(
                    "model %s: rollout state's stable version %s is not loaded here; keeping %s",
                    self.model_name,
                    state.stable,
                    self._state,
                )
            self._refused = state
            self._file.forget()
            return None
        adopted = _drop_unavailable(state, available)
        if adopted != state:
            log.warning("model %s: rollout state names versions not loaded here: %s", self.model_name, state)
        self._state, self._refused = adopted, None
        return adopted

    def read_persisted(self) -> RolloutState | None:
        data = self._file.read()
        if data is None:
            return None
        try:
            return RolloutState.from_json(data)
        except TypeError as error:
            log.error("ignoring rollout state %s: %s", self.state_file, error)
            return None


def _drop_unavailable(state: RolloutState, available: set[int]) -> RolloutState:
    def keep(version: int | None) -> int | None:
        return version if version in available else None

    state = dataclasses.replace(
        state,
        stable=keep(state.stable),
        canary=keep(state.canary),
        shadow=keep(state.shadow),
        previous_stable=keep(state.previous_stable),
    )
    if state.canary is None:
        state = dataclasses.replace(state, canary_fraction=0.0)
    if keep(state.blue) is None or keep(state.green) is None:
        state = dataclasses.replace(state, blue=None, green=None, active_color=None)
    return state

"""The versions of one model as TF Serving serves them: found in the Pusher's directory, chosen by
the version policy (plus the versions the rollout pins), loaded and warmed up, unloaded.

`<serving_root>/<model>/<version>/` holds one SavedModel per pushed version. A version becomes
AVAILABLE only once it loaded and warmed up (`inference.warmup`); one that fails ends in state END
with the error, and whatever served before keeps serving. States and their names follow TF
Serving's `ModelVersionStatus`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ml_lifecycle.base.errors import LifecycleError
from ml_lifecycle.base.text import ascii_digits
from ml_lifecycle.config.serving import VersionPolicyConfig
from ml_lifecycle.serving.inference.servable import ServableVersion
from ml_lifecycle.serving.inference.warmup import load_version

log = logging.getLogger(__name__)

_MODEL_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class ModelNameError(LifecycleError, ValueError):
    """A model name that is not a plain directory name under the serving root."""


class VersionNotAvailableError(LifecycleError, LookupError):
    """The model has no such version, or it is not AVAILABLE."""


def validate_model_name(name: str) -> str:
    """Model names are single path components: letters, digits, '_', '.', '-', never '.' or '..'."""
    if not _MODEL_NAME.match(name) or set(name) == {"."}:
        raise ModelNameError(
            f"invalid model name {name!r}: expected letters, digits, '_', '.' or '-', not a path"
        )
    return name


def select_versions(on_disk: Iterable[int], policy: VersionPolicyConfig) -> list[int]:
    """The versions TF Serving's `model_version_policy` would serve, newest first."""
    versions = sorted(set(on_disk), reverse=True)
    if policy.kind == "latest":
        return versions[: policy.num_versions]
    if policy.kind == "specific":
        return [v for v in versions if v in set(policy.versions)]
    return versions


def version_directories(base_path: Path) -> dict[int, Path]:
    """Numeric subdirectories holding a saved_model.pb (TF Serving ignores anything else)."""
    if not base_path.is_dir():
        return {}
    return {
        int(child.name): child
        for child in base_path.iterdir()
        if ascii_digits(child.name) and (child / "saved_model.pb").is_file()
    }


def _directory_fingerprint(path: Path) -> tuple[int, int, float]:
    """Files, bytes and newest mtime: unchanged across two scans means the push has finished
    (the Pusher copies files into place; it does not rename a finished directory)."""
    count, size, newest = 0, 0, 0.0
    for child in path.rglob("*"):
        if child.is_file():
            stat = child.stat()
            count, size, newest = count + 1, size + stat.st_size, max(newest, stat.st_mtime)
    return count, size, newest


@dataclass
class VersionRecord:
    version: int
    path: Path
    state: str = "START"
    error_message: str = ""
    servable: ServableVersion | None = None
    loaded_s: float | None = None
    load_seconds: float | None = None


@dataclass
class ModelRepository:
    """The versions of one model: which to load (policy + pinned), their states, the loaded ones.

    `poll()` does the loading in the caller's thread; the server calls it from a watcher thread,
    so requests keep being served by the versions already AVAILABLE while a new one loads.
    """

    name: str
    base_path: Path
    policy: VersionPolicyConfig
    loader: Callable[[str, int, Path], ServableVersion] = load_version
    records: dict[int, VersionRecord] = field(default_factory=dict)
    _pinned: frozenset[int] = frozenset()
    _pending: dict[int, tuple[int, int, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        validate_model_name(self.name)

    def pin(self, versions: Iterable[int | None]) -> None:
        """Versions the rollout state refers to stay loaded even when the policy would drop them."""
        self._pinned = frozenset(v for v in versions if v is not None)

    def poll(self, wait_for_stable_files: bool = True) -> list[int]:
        """Loads versions the policy (or a pin) wants and unloads the others; returns those that
        became AVAILABLE in this call."""
        on_disk = version_directories(self.base_path)
        wanted = set(select_versions(on_disk, self.policy)) | (self._pinned & set(on_disk))
        newly_available = []
        for version in sorted(wanted):
            with self._lock:
                record = self.records.get(version)
            # A failed version is not retried (TF Serving does not either); an unloaded one is.
            if record is not None and (record.state == "AVAILABLE" or record.error_message):
                continue
            path = on_disk[version]
            if wait_for_stable_files and not self._files_settled(version, path):
                continue
            if self._load(version, path):
                newly_available.append(version)
        self._unload(set(on_disk), wanted)
        return newly_available

    def _files_settled(self, version: int, path: Path) -> bool:
        fingerprint = _directory_fingerprint(path)
        previous = self._pending.get(version)
        self._pending[version] = fingerprint
        return previous == fingerprint

    def _load(self, version: int, path: Path) -> bool:
        record = VersionRecord(version, path, state="LOADING")
        with self._lock:
            self.records[version] = record
        started = time.perf_counter()
        try:
            servable = self.loader(self.name, version, path)
        except Exception as error:  # noqa: BLE001 - any load/warmup failure marks the version, never the server
            log.error("model %s version %d failed to load or warm up: %s", self.name, version, error)
            with self._lock:
                record.state, record.error_message = "END", f"{type(error).__name__}: {error}"
            return False
        with self._lock:
            record.servable, record.state = servable, "AVAILABLE"
            record.loaded_s, record.load_seconds = time.time(), time.perf_counter() - started
        log.info("model %s version %d AVAILABLE (%.1f s)", self.name, version, record.load_seconds)
        return True

    def _unload(self, on_disk: set[int], wanted: set[int]) -> None:
        with self._lock:
            for version, record in list(self.records.items()):
                if version in wanted:
                    continue
                if record.state == "AVAILABLE":
                    # In-flight requests hold their own reference; dropping ours never cuts them off.
                    record.servable, record.state = None, "END"
                if version not in on_disk:
                    del self.records[version]

    def servable(self, version: int) -> ServableVersion:
        with self._lock:
            record = self.records.get(version)
        if record is None or record.servable is None:
            state = "not found" if record is None else f"in state {record.state}"
            detail = f": {record.error_message}" if record is not None and record.error_message else ""
            raise VersionNotAvailableError(f"model {self.name!r} version {version} is {state}{detail}")
        return record.servable

    def available(self) -> list[int]:
        with self._lock:
            return sorted(v for v, r in self.records.items() if r.state == "AVAILABLE")

    def statuses(self) -> list[VersionRecord]:
        with self._lock:
            return [self.records[v] for v in sorted(self.records, reverse=True)]

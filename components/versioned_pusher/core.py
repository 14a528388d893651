"""Pure core of the versioned push: pick and reserve a version number nobody else holds.

TFX's Pusher names a version `int(time.time())` and, when that directory already exists, skips
the copy but still records the push: two runs finishing in the same second (seen here with
two concurrent runs on a shared store) both claim one version that holds only one of the models.
"""

from __future__ import annotations

import os
from pathlib import Path

from ml_lifecycle.base.text import ascii_digits

RESERVED_PREFIX = ".reserved-"
STAGING_PREFIX = ".staging-"


def existing_versions(names: list[str]) -> list[int]:
    """Version numbers present in a serving directory: `<n>` and reservations `.reserved-<n>`."""
    versions = []
    for name in names:
        digits = name[len(RESERVED_PREFIX) :] if name.startswith(RESERVED_PREFIX) else name
        if ascii_digits(digits):
            versions.append(int(digits))
    return versions


def next_version(names: list[str], now: int) -> int:
    """The current Unix time, or one past the newest version if that is later (clock skew, or
    another push this second): versions stay increasing, so "latest" means newest."""
    return max([now, *(v + 1 for v in existing_versions(names))])


def reserve_version(base_directory: Path, now: int, attempts: int = 100) -> int:
    """Atomically reserves a version under `base_directory` (a `.reserved-<n>` directory made
    with mkdir, which exactly one process can create); release with `release_version`."""
    base_directory.mkdir(parents=True, exist_ok=True)
    version = next_version(os.listdir(base_directory), now)
    for _ in range(attempts):
        if not (base_directory / str(version)).exists():
            try:
                (base_directory / f"{RESERVED_PREFIX}{version}").mkdir()
                return version
            except FileExistsError:
                pass
        version += 1
    raise RuntimeError(f"{base_directory}: no free model version after {attempts} attempts")


def release_version(base_directory: Path, version: int) -> None:
    (base_directory / f"{RESERVED_PREFIX}{version}").rmdir()

"""Version reservation for pushes: unique, increasing, atomic across processes."""

from __future__ import annotations

import multiprocessing

from ml_lifecycle.components.versioned_pusher.core import (
    existing_versions,
    next_version,
    release_version,
    reserve_version,
)


def test_next_version_is_now_or_one_past_the_newest():
    assert next_version([], 1000) == 1000
    assert next_version(["990", "notes", ".staging-995"], 1000) == 1000
    assert next_version(["1000"], 1000) == 1001
    assert next_version(["1005", ".reserved-1007"], 1000) == 1008  # a clock behind the newest push
    assert existing_versions(["12", ".reserved-13", "x12", ".staging-14", "²", ".reserved-³"]) == [12, 13]


def test_reserved_versions_are_skipped_and_released(tmp_path):
    first = reserve_version(tmp_path, 50)
    second = reserve_version(tmp_path, 50)
    assert (first, second) == (50, 51)
    release_version(tmp_path, first)
    (tmp_path / "50").mkdir()  # the first push landed
    assert reserve_version(tmp_path, 50) == 52


def _reserve(args):
    base, barrier = args
    barrier.wait()
    return reserve_version(base, 7)


def test_concurrent_reservations_never_share_a_version(tmp_path):
    with multiprocessing.Manager() as manager:
        barrier = manager.Barrier(4)
        with multiprocessing.get_context("spawn").Pool(4) as pool:
            versions = pool.map(_reserve, [(tmp_path, barrier)] * 4)
    assert len(set(versions)) == 4

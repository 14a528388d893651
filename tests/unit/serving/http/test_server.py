"""settle_heap: after a model load or unload, long-lived objects leave the collector's sight,
and an unloaded model's reference cycles are still reclaimed."""

from __future__ import annotations

import gc
import weakref

from ml_lifecycle.serving.http.server import settle_heap


class _Node:
    """Stands in for a loaded model's objects: a reference cycle."""

    def __init__(self) -> None:
        self.partner = self


def test_objects_are_frozen_and_a_dropped_cycle_is_reclaimed_on_the_next_settle():
    try:
        loaded = _Node()
        alive = weakref.ref(loaded)
        settle_heap()
        assert gc.get_freeze_count() > 0
        # A version is unloaded: its cycle sits in the frozen generation, which a plain
        # collection never looks at ...
        del loaded
        gc.collect()
        assert alive() is not None
        # ... the settle that follows the unload unfreezes first, so it goes.
        settle_heap()
        assert alive() is None
    finally:
        gc.unfreeze()

"""Shadow copies: a live request run again on the shadow version after the live answer was sent.

A bounded queue and one worker thread; a full queue drops the copy and counts it. What the shadow
answer is compared with and where it is recorded is the caller's `observe` (the request hooks).
Never touches a response.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ml_lifecycle.serving.inference.servable import ServableVersion
from ml_lifecycle.serving.protocol.requests import DecodedRequest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShadowJob:
    """A live request's copy for the shadow version, with the live answer to compare against."""

    model: str
    live_version: int
    shadow_version: int
    request: DecodedRequest
    live_scores: np.ndarray
    method: str


# (job, the shadow version's outputs, its latency in ms) -> None.
ShadowObserver = Callable[[ShadowJob, dict[str, np.ndarray], float], None]


class ShadowWorker:
    """Runs queued shadow copies on one background thread, counting each outcome."""

    def __init__(
        self,
        servable_of: Callable[[str, int], ServableVersion],
        observe: ShadowObserver,
        max_queue: int,
    ) -> None:
        self._servable_of = servable_of
        self._observe = observe
        self._queue: queue.Queue = queue.Queue(maxsize=max_queue)
        self.counts = {"submitted": 0, "done": 0, "dropped": 0, "errors": 0}
        self._counts_lock = threading.Lock()
        self._thread = threading.Thread(target=self._work, name="shadow-worker", daemon=True)
        self._stopping = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def submit(self, job: ShadowJob) -> None:
        try:
            self._queue.put_nowait(job)
            self._count("submitted")
        except queue.Full:
            self._count("dropped")

    def _count(self, outcome: str) -> None:
        with self._counts_lock:
            self.counts[outcome] += 1

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self._queue.put(None)
        self._thread.join(timeout)

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is None:
                    return
                self._shadow(job)
                self._count("done")
            except Exception as error:  # noqa: BLE001 - a shadow failure is counted, never raised
                self._count("errors")
                log.warning(
                    "shadow request to version %s failed: %s", getattr(job, "shadow_version", "?"), error
                )
            finally:
                self._queue.task_done()

    def _shadow(self, job: ShadowJob) -> None:
        servable = self._servable_of(job.model, job.shadow_version)
        started = time.perf_counter()
        outputs = servable.run(job.request.signature, job.request.columns)
        self._observe(job, outputs, (time.perf_counter() - started) * 1000)

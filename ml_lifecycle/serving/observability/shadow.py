"""Shadow copies: a live request run again on the shadow version after the live answer was sent.

A bounded queue and one worker thread; a full queue drops the copy and counts it. Where the
shadow answer is recorded is the caller's `observe` (the request hooks), handed the shadow
version's own model description to read the answer with. `compare` says, per row, whether it
agrees with the live answer, as the model's task defines agreement:

| task | agree | difference |
| --- | --- | --- |
| binary | same side of `DECISION_THRESHOLD` (0.5) | abs(P(class 1) difference) |
| multiclass | same top class | total variation distance, half the summed abs(probability differences) |
| regression | within 5% of the live value (`REGRESSION_AGREEMENT`) | abs(value difference) |

Multiclass classes are lined up by label, so a shadow version that orders the same classes
differently is compared class by class. Versions whose tasks or class sets differ are not
comparable: `compare` says so (None) and the caller counts it; it is not an error.

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

from ml_lifecycle.base.contracts import Task
from ml_lifecycle.base.model_description import ModelDescription
from ml_lifecycle.serving.inference.answers import DECISION_THRESHOLD, ModelAnswer
from ml_lifecycle.serving.inference.servable import ServableVersion
from ml_lifecycle.serving.protocol.methods import Method
from ml_lifecycle.serving.protocol.requests import DecodedRequest

log = logging.getLogger(__name__)

# A regression shadow answer agrees within this share of the live value (at least 1e-9 apart).
REGRESSION_AGREEMENT = 0.05


@dataclass(frozen=True)
class ShadowJob:
    """A live request's copy for the shadow version, with the live answer to compare against."""

    model: str
    live_version: int
    shadow_version: int
    request: DecodedRequest
    live: ModelAnswer
    method: Method


def compare(live: ModelAnswer, shadow: ModelAnswer) -> tuple[np.ndarray, np.ndarray] | None:
    """Per row, (whether the shadow answer agrees with the live one, how far apart they are);
    None when they are not comparable (another task, or another set of classes)."""
    if live.task is not shadow.task or set(live.classes) != set(shadow.classes):
        return None
    if live.rows != shadow.rows:
        raise ValueError(f"the shadow version answered {shadow.rows} rows, the live version {live.rows}")
    if live.task is Task.MULTICLASS:
        # The shadow's columns in the live answer's class order.
        aligned = shadow.values[:, [shadow.classes.index(label) for label in live.classes]]
        distance = 0.5 * np.abs(live.values - aligned).sum(axis=1)
        return live.top_index == aligned.argmax(axis=1), distance
    difference = np.abs(live.values[:, 0] - shadow.values[:, 0])
    if live.task is Task.REGRESSION:
        return difference <= np.maximum(REGRESSION_AGREEMENT * np.abs(live.values[:, 0]), 1e-9), difference
    return (live.score >= DECISION_THRESHOLD) == (shadow.score >= DECISION_THRESHOLD), difference


# (job, the shadow version's outputs, its model description, its latency in ms) -> None.
ShadowObserver = Callable[[ShadowJob, dict[str, np.ndarray], ModelDescription, float], None]


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
        self._observe(job, outputs, servable.description, (time.perf_counter() - started) * 1000)

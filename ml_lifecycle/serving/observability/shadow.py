"""Shadow copies: a live request run again on the shadow version after the live answer was sent.

A queue bounded in jobs and in bytes, and one worker thread: a copy that would take the queue
past either bound is dropped and counted, never waited for. A job's bytes are its request columns'
array bytes plus the lengths of their text values and serialized tf.Examples (an object array's
own bytes are only pointers); the job also holds the client's values as Python lists, not counted,
which grow with the same rows. The bytes of the job being run count until it is done. Where the
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

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ml_lifecycle.base.contracts import Task
from ml_lifecycle.base.model_description import ModelDescription
from ml_lifecycle.config.serving import RolloutConfig
from ml_lifecycle.serving.inference.answers import DECISION_THRESHOLD, ModelAnswer
from ml_lifecycle.serving.inference.servable import ServableVersion
from ml_lifecycle.serving.protocol.methods import Method
from ml_lifecycle.serving.protocol.requests import DecodedRequest

log = logging.getLogger(__name__)

# A regression shadow answer agrees within this share of the live value (at least 1e-9 apart).
REGRESSION_AGREEMENT = 0.05
# The server passes `serving.rollout.shadow_queue_bytes`; this default is the same value.
DEFAULT_QUEUE_BYTES = RolloutConfig.model_fields["shadow_queue_bytes"].default


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


def request_bytes(request: DecodedRequest) -> int:
    """What a queued copy of the request weighs: its columns' array bytes, plus the lengths of the
    text values and serialized tf.Examples an object column points to."""
    total = 0
    for column in request.columns.values():
        total += column.nbytes
        if column.dtype == object:
            try:
                total += sum(map(len, column.ravel()))
            except TypeError:  # a value without a length (not text): its pointer is counted
                total += sum(len(value) for value in column.ravel() if isinstance(value, (str, bytes)))
    return total


# (job, the shadow version's outputs, its model description, its latency in ms) -> None.
ShadowObserver = Callable[[ShadowJob, dict[str, np.ndarray], ModelDescription, float], None]


class ShadowWorker:
    """Runs queued shadow copies on one background thread, counting each outcome; at most
    `max_queue` jobs and `max_queue_bytes` bytes (`request_bytes`) wait or run at once."""

    def __init__(
        self,
        servable_of: Callable[[str, int], ServableVersion],
        observe: ShadowObserver,
        max_queue: int,
        max_queue_bytes: int = DEFAULT_QUEUE_BYTES,
    ) -> None:
        self._servable_of = servable_of
        self._observe = observe
        # (job, its bytes); None tells the thread to stop.
        self._queue: queue.Queue[tuple[ShadowJob, int] | None] = queue.Queue(maxsize=max_queue)
        self.max_queue_bytes = max_queue_bytes
        self._queued_bytes = 0
        self.counts = {"submitted": 0, "done": 0, "dropped": 0, "errors": 0}
        self._counts_lock = threading.Lock()
        self._thread = threading.Thread(target=self._work, name="shadow-worker", daemon=True)
        self._stopping = threading.Event()

    def start(self) -> None:
        self._thread.start()

    @property
    def queued_bytes(self) -> int:
        """The bytes of the jobs queued or running."""
        with self._counts_lock:
            return self._queued_bytes

    def submit(self, job: ShadowJob) -> None:
        size = request_bytes(job.request)
        with self._counts_lock:
            if self._queued_bytes + size > self.max_queue_bytes:
                self.counts["dropped"] += 1
                return
            self._queued_bytes += size
        try:
            self._queue.put_nowait((job, size))
            self._count("submitted")
        except queue.Full:
            self._release(size)
            self._count("dropped")

    def _release(self, size: int) -> None:
        with self._counts_lock:
            self._queued_bytes -= size

    def _count(self, outcome: str) -> None:
        with self._counts_lock:
            self.counts[outcome] += 1

    def stop(self, timeout: float = 5.0) -> None:
        """Runs what is queued for at most `timeout` seconds, then returns (never blocks on a
        full queue: the thread also stops once it finds the queue empty)."""
        self._stopping.set()
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        self._thread.join(timeout)

    def _work(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=0.2)
            except queue.Empty:
                if self._stopping.is_set():
                    return
                continue
            if item is None:
                self._queue.task_done()
                return
            job, size = item
            try:
                self._shadow(job)
                self._count("done")
            except Exception as error:  # noqa: BLE001 - a shadow failure is counted, never raised
                self._count("errors")
                log.warning("shadow request to version %s failed: %s", job.shadow_version, error)
            finally:
                self._release(size)
                self._queue.task_done()

    def _shadow(self, job: ShadowJob) -> None:
        servable = self._servable_of(job.model, job.shadow_version)
        started = time.perf_counter()
        outputs = servable.run(job.request.signature, job.request.columns)
        self._observe(job, outputs, servable.description, (time.perf_counter() - started) * 1000)

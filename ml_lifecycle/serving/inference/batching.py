"""The request batcher: concurrent calls on the same version and signature merge into one model
call, and no request waits for its answer longer than the deadline.

Merging. Each version and signature has a lane. A caller queues its rows in the lane and waits;
when the lane is idle, a batch of everything waiting (up to `max_batch_rows`) runs as one model
call, and when that call ends the lane's next batch starts on the same thread. With 2 cores and
the GIL, one model call of 8 rows costs about what one call of 1 row costs, so merging is what
lets concurrent single-row clients scale. A request of `max_batch_rows` rows or more runs alone,
at once, without queueing.

The deadline (`serving.request_timeout_ms`, `timeout_s` here). Model calls run on the batcher's
own daemon threads, never on a caller's, so that every caller, including one whose rows are in a
model call that never returns, can give up: a request with no answer `timeout_s` after it
arrived fails with `ModelCallTimeoutError` (HTTP 503). A request still queued is taken out of
the queue and never runs; a request already in a running call has its share of the result
discarded when the call ends (counted in `late_results`): an answer reaches a caller only
before its deadline.

A stuck model call. Python cannot interrupt a model call, so one that has run for the whole
deadline is given up on: its thread is left to finish and the call counts as stuck (`stuck`);
the lane forgets it and the requests queued behind it form a new batch at once on another
thread (they do not wait out the stuck call, and may still be answered in time). Each stuck call
holds a thread, so at most `max_stuck_calls` are tolerated per version and signature: past that,
the lane refuses its requests at once with `ModelCallTimeoutError` (saying why) until a stuck
call returns. A model that hangs on every call thus costs at most that many threads per lane,
and its clients get their 503 without waiting out the deadline. When a stuck call does return,
its results are discarded (its requests have all timed out) and its thread is reused.

Cost: one thread hand-off each way per model call: measured here on one uncontended single-row
caller and a model that returns at once, 33 us p50 per call instead of 8 us with the model run on
the caller's thread; with 8 concurrent callers the throughput was the same. `direct_predictor` (no batcher)
runs on the caller's thread and has no deadline of its own (see predict.py).
"""

from __future__ import annotations

import queue
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from ml_lifecycle.config.serving import BatchingConfig, ServingConfig
from ml_lifecycle.serving.inference.predict import ModelCallTimeoutError
from ml_lifecycle.serving.inference.servable import ServableVersion

# The server passes `serving.request_timeout_ms`; this default is the same value.
DEFAULT_TIMEOUT_S = ServingConfig.model_fields["request_timeout_ms"].default / 1000
DEFAULT_MAX_STUCK_CALLS = 4
# An idle call thread exits after this long without work.
_IDLE_THREAD_SECONDS = 60.0

# One request's result: its outputs, or the error the model call raised for it.
_Result = tuple[dict[str, np.ndarray] | None, BaseException | None]


@dataclass(eq=False)
class _Pending:
    """One caller's request; `done` is set once it has outputs, an error, or has timed out."""

    columns: dict[str, np.ndarray]
    rows: int
    deadline: float
    done: threading.Event = field(default_factory=threading.Event)
    outputs: dict[str, np.ndarray] | None = None
    error: BaseException | None = None
    # The model call it is in; None while it is queued.
    call: _Call | None = None


@dataclass(eq=False)
class _Call:
    """One model call on a call thread: the requests it answers, and when it is given up on."""

    lane: _Lane
    abandon_at: float
    batch: list[_Pending] = field(default_factory=list)
    abandoned: bool = False


@dataclass(eq=False)
class _Lane:
    """One version and signature: the queued requests, the batch call running and stuck calls."""

    model: str
    version: int
    signature: str
    waiting: list[_Pending] = field(default_factory=list)
    # The call running the lane's current batch; None when the lane is idle.
    active: _Call | None = None
    # Every call of the lane not yet given up on: `active` and requests running alone.
    running: set[_Call] = field(default_factory=set)
    stuck: int = 0


class _CallThreads:
    """Daemon threads that run model calls: an idle one is reused, a stuck one never comes back.

    Daemon, so that a model call that never returns cannot keep the process from exiting.
    """

    def __init__(self) -> None:
        self._tasks: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0

    def submit(self, task: Callable[[], None]) -> None:
        with self._lock:
            if self._idle:
                # Under the lock: the queue then holds exactly one task per idle thread claimed.
                self._idle -= 1
                self._tasks.put(task)
                return
        threading.Thread(target=self._serve, args=(task,), name="batcher-call", daemon=True).start()

    def _serve(self, task: Callable[[], None]) -> None:
        while True:
            task()
            with self._lock:
                self._idle += 1
            try:
                task = self._tasks.get(timeout=_IDLE_THREAD_SECONDS)
            except queue.Empty:
                with self._lock:
                    try:
                        task = self._tasks.get_nowait()  # claimed between the timeout and the lock
                    except queue.Empty:
                        self._idle -= 1
                        return


class Batcher:
    """Merges concurrent calls on the same version and signature into one model call, each caller
    waiting at most `timeout_s` for its answer (the module doc says what happens past it)."""

    def __init__(
        self,
        config: BatchingConfig,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_stuck_calls: int = DEFAULT_MAX_STUCK_CALLS,
    ) -> None:
        if timeout_s <= 0 or max_stuck_calls < 1:
            raise ValueError(
                f"Batcher: need timeout_s > 0 and max_stuck_calls >= 1, got {timeout_s}, {max_stuck_calls}"
            )
        self.max_batch_rows = config.max_batch_rows
        self.max_wait_s = config.max_wait_ms / 1000
        self.timeout_s = timeout_s
        self.max_stuck_calls = max_stuck_calls
        self._lock = threading.Lock()
        # By servable, weakly: a retired version's lanes go with it (an id() could be reused).
        self._lanes: weakref.WeakKeyDictionary[ServableVersion, dict[str, _Lane]]
        self._lanes = weakref.WeakKeyDictionary()
        self._threads = _CallThreads()
        self.batches = 0
        self.batched_calls = 0
        self.timeouts = 0
        self.late_results = 0

    @property
    def stuck(self) -> int:
        """Model calls given up on that have not returned yet."""
        with self._lock:
            return sum(lane.stuck for lanes in self._lanes.values() for lane in lanes.values())

    def predict(self, servable: ServableVersion, signature: str, columns: dict[str, np.ndarray]):
        """The signature's outputs for `columns`; `ModelCallTimeoutError` past the deadline."""
        rows = len(next(iter(columns.values())))
        now = time.monotonic()
        pending = _Pending(columns, rows, now + self.timeout_s)
        with self._lock:
            lane = self._lane(servable, signature)
            self._give_up_overdue(lane, servable, signature, now)
            if lane.stuck >= self.max_stuck_calls:
                self.timeouts += 1
                raise self._refusal(lane)
            if rows >= self.max_batch_rows:
                call = _Call(lane, pending.deadline, [pending])
                pending.call = call
                lane.running.add(call)
                self._threads.submit(partial(self._run_alone, call, servable, signature))
            else:
                lane.waiting.append(pending)
                self._start_next_call(lane, servable, signature, now)
        return self._wait(pending, lane, servable, signature)

    def _lane(self, servable: ServableVersion, signature: str) -> _Lane:
        lanes = self._lanes.get(servable)
        if lanes is None:
            lanes = self._lanes[servable] = {}
        lane = lanes.get(signature)
        if lane is None:
            lane = lanes[signature] = _Lane(servable.model_name, servable.version, signature)
        return lane

    def _wait(self, pending: _Pending, lane: _Lane, servable: ServableVersion, signature: str):
        while True:
            with self._lock:
                # Wake when the running batch is due to be given up on, to take the lane over.
                wake = pending.deadline
                if lane.active is not None and pending.call is None:
                    wake = min(wake, lane.active.abandon_at)
            if pending.done.wait(max(0.0, wake - time.monotonic())):
                break
            with self._lock:
                now = time.monotonic()
                self._give_up_overdue(lane, servable, signature, now)
                if not pending.done.is_set() and now >= pending.deadline:
                    if pending.call is None:
                        lane.waiting.remove(pending)
                    self._time_out(pending, lane)
                if pending.done.is_set():
                    break
        if pending.error is not None:
            raise pending.error
        return pending.outputs

    def _time_out(self, pending: _Pending, lane: _Lane) -> None:
        """Fails the request with the deadline's error; called with the lock held."""
        self.timeouts += 1
        pending.error = ModelCallTimeoutError(lane.model, lane.version, lane.signature, self.timeout_s)
        pending.done.set()

    def _refusal(self, lane: _Lane) -> ModelCallTimeoutError:
        return ModelCallTimeoutError(
            lane.model,
            lane.version,
            lane.signature,
            self.timeout_s,
            f"{lane.stuck} earlier model call(s) have not returned after the deadline; "
            "requests are refused until one does",
        )

    def _give_up_overdue(self, lane: _Lane, servable: ServableVersion, signature: str, now: float) -> None:
        """Gives up on the lane's calls that have run for the whole deadline; the queued requests
        get a new batch call, or are refused when the lane has too many stuck calls. Lock held."""
        for call in [call for call in lane.running if call.abandon_at <= now]:
            call.abandoned = True
            lane.running.discard(call)
            lane.stuck += 1
            if call is lane.active:
                lane.active = None
        self._start_next_call(lane, servable, signature, now)

    def _start_next_call(self, lane: _Lane, servable: ServableVersion, signature: str, now: float) -> None:
        call = self._next_call(lane, now)
        if call is not None:
            self._threads.submit(partial(self._run_lane, call, servable, signature))

    def _next_call(self, lane: _Lane, now: float) -> _Call | None:
        """The lane's next batch call when it is idle with requests queued; when it has too many
        stuck calls, the queued requests are refused instead. Lock held."""
        if lane.active is not None or not lane.waiting:
            return None
        if lane.stuck >= self.max_stuck_calls:
            for pending in lane.waiting:
                self.timeouts += 1
                pending.error = self._refusal(lane)
                pending.done.set()
            lane.waiting.clear()
            return None
        call = lane.active = _Call(lane, now + self.timeout_s)
        lane.running.add(call)
        return call

    def _run_alone(self, call: _Call, servable: ServableVersion, signature: str) -> None:
        results = self._run(call.batch, servable, signature)
        with self._lock:
            self._finish(call, results)

    def _run_lane(self, call: _Call | None, servable: ServableVersion, signature: str) -> None:
        """A lane's batch calls, one after another on this thread, while requests keep queueing."""
        while call is not None:
            lane = call.lane
            if self.max_wait_s > 0:
                wait_until = time.perf_counter() + self.max_wait_s
                # Unlocked reads: a row count off by a request only ends the wait a poll early or late.
                while time.perf_counter() < wait_until and self._queued_rows(lane) < self.max_batch_rows:
                    time.sleep(0.0001)
            with self._lock:
                total = 0
                # A call given up on before it formed its batch leaves the queue to its successor.
                for pending in [] if call.abandoned else lane.waiting:
                    if call.batch and total + pending.rows > self.max_batch_rows:
                        break
                    call.batch.append(pending)
                    pending.call = call
                    total += pending.rows
                del lane.waiting[: len(call.batch)]
                if call.batch:
                    self.batches += 1
                    self.batched_calls += len(call.batch)
            results = self._run(call.batch, servable, signature) if call.batch else []
            with self._lock:
                self._finish(call, results)
                call = self._next_call(lane, time.monotonic())

    @staticmethod
    def _queued_rows(lane: _Lane) -> int:
        return sum(pending.rows for pending in lane.waiting)

    def _finish(self, call: _Call, results: list[_Result]) -> None:
        """Hands each request in time its result, discards the late ones; frees the lane. Lock held."""
        lane = call.lane
        if call.abandoned:
            lane.stuck -= 1
        else:
            lane.running.discard(call)
            if lane.active is call:
                lane.active = None
        now = time.monotonic()
        for pending, (outputs, error) in zip(call.batch, results, strict=True):
            if pending.done.is_set() or now >= pending.deadline:
                self.late_results += 1
                if not pending.done.is_set():
                    self._time_out(pending, lane)
                continue
            pending.outputs, pending.error = outputs, error
            pending.done.set()

    def _run(self, batch: list[_Pending], servable: ServableVersion, signature: str) -> list[_Result]:
        """Each request's result from one merged model call; when that fails, from a call of its own."""
        if len(batch) == 1:
            try:
                return [(servable.run(signature, batch[0].columns), None)]
            except BaseException as error:  # noqa: BLE001 - handed to the waiting caller, who raises it
                return [(None, error)]
        try:
            merged = {name: np.concatenate([p.columns[name] for p in batch]) for name in batch[0].columns}
            outputs = servable.run(signature, merged)
            results: list[_Result] = []
            offset = 0
            for pending in batch:
                rows = slice(offset, offset + pending.rows)
                results.append(({name: value[rows] for name, value in outputs.items()}, None))
                offset += pending.rows
            return results
        except Exception:  # noqa: BLE001 - one bad request must not fail the others: run each alone
            # A request that has already timed out is not run again: nobody waits for it.
            return [
                (None, None) if pending.done.is_set() else self._run([pending], servable, signature)[0]
                for pending in batch
            ]

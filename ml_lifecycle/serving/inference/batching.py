"""The request batcher: concurrent calls on the same version and signature merge into one model call."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np

from ml_lifecycle.config.serving import BatchingConfig
from ml_lifecycle.serving.inference.servable import ServableVersion


@dataclass
class _Pending:
    columns: dict[str, np.ndarray]
    rows: int
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    outputs: dict[str, np.ndarray] | None = None
    error: BaseException | None = None


@dataclass
class _Lane:
    waiting: list[_Pending] = field(default_factory=list)
    running: bool = False


class Batcher:
    """Merges concurrent calls on the same version and signature into one model call.

    No thread of its own: the first caller to find the lane idle runs a batch of everything
    waiting (up to `max_batch_rows`), the others wait; when a batch ends, leadership passes to the
    oldest waiting caller. With 2 cores and the GIL, one model call of 8 rows costs about what one
    call of 1 row costs, so merging is what lets concurrent single-row clients scale.
    """

    def __init__(self, config: BatchingConfig) -> None:
        self.max_batch_rows = config.max_batch_rows
        self.max_wait_s = config.max_wait_ms / 1000
        self._lock = threading.Lock()
        self._lanes: dict[tuple[int, str], _Lane] = {}
        self.batches = 0
        self.batched_calls = 0

    def predict(self, servable: ServableVersion, signature: str, columns: dict[str, np.ndarray]):
        rows = len(next(iter(columns.values())))
        if rows >= self.max_batch_rows:
            return servable.run(signature, columns)
        pending = _Pending(columns, rows)
        key = (id(servable), signature)
        with self._lock:
            lane = self._lanes.setdefault(key, _Lane())
            lane.waiting.append(pending)
            pending.lead = not lane.running
            lane.running = True
        if not pending.lead:
            pending.done.wait()
        if pending.lead:
            self._run_batch(lane, servable, signature)
        if pending.error is not None:
            raise pending.error
        return pending.outputs

    def _run_batch(self, lane: _Lane, servable: ServableVersion, signature: str) -> None:
        if self.max_wait_s > 0:
            deadline = time.perf_counter() + self.max_wait_s
            while time.perf_counter() < deadline and sum(p.rows for p in lane.waiting) < self.max_batch_rows:
                time.sleep(0.0001)
        with self._lock:
            batch, total = [], 0
            for pending in lane.waiting:
                if batch and total + pending.rows > self.max_batch_rows:
                    break
                batch.append(pending)
                total += pending.rows
            del lane.waiting[: len(batch)]
        try:
            self._run(batch, servable, signature)
        finally:
            with self._lock:
                self.batches += 1
                self.batched_calls += len(batch)
                if lane.waiting:
                    successor = lane.waiting[0]
                    successor.lead = True
                else:
                    successor = None
                    lane.running = False
            for pending in batch:
                pending.done.set()
            if successor is not None:
                successor.done.set()

    @staticmethod
    def _run(batch: list[_Pending], servable: ServableVersion, signature: str) -> None:
        if len(batch) == 1:
            try:
                batch[0].outputs = servable.run(signature, batch[0].columns)
            except BaseException as error:  # noqa: BLE001 - handed to the waiting caller, who raises it
                batch[0].error = error
            return
        merged = {name: np.concatenate([p.columns[name] for p in batch]) for name in batch[0].columns}
        try:
            outputs = servable.run(signature, merged)
        except Exception:  # noqa: BLE001 - one bad request must not fail the others: run each alone
            for pending in batch:
                Batcher._run([pending], servable, signature)
            return
        offset = 0
        for pending in batch:
            pending.outputs = {name: value[offset : offset + pending.rows] for name, value in outputs.items()}
            offset += pending.rows

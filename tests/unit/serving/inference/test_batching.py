"""The request batcher: concurrent calls merge into fewer model calls, each caller gets its own rows,
and a stuck model call fails its requests after the deadline without holding the lane."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from ml_lifecycle.base.errors import LifecycleError
from ml_lifecycle.config.serving import BatchingConfig, ServingConfig
from ml_lifecycle.serving.inference.batching import Batcher
from ml_lifecycle.serving.inference.predict import ModelCallTimeoutError, infer


class SlowDoubler:
    """Doubles `x`; each call takes a few ms so that callers pile up; negative input is rejected."""

    model_name, version = "doubler", 1

    def __init__(self) -> None:
        self.batch_sizes: list[int] = []

    def run(self, signature, columns):
        values = columns["x"]
        self.batch_sizes.append(len(values))
        time.sleep(0.005)
        if (values < 0).any():
            raise ValueError("negative input")
        return {"outputs": (values * 2).reshape(-1, 1)}


def _call_concurrently(batcher, servable, inputs):
    results: dict[int, object] = {}
    start = threading.Barrier(len(inputs))

    def client(index, values):
        start.wait()
        try:
            results[index] = batcher.predict(
                servable, "serving_raw", {"x": np.array(values, dtype=np.float32)}
            )
        except ValueError as error:
            results[index] = error

    threads = [threading.Thread(target=client, args=(i, v)) for i, v in enumerate(inputs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return results


def test_concurrent_requests_are_merged_and_answered_row_for_row():
    servable = SlowDoubler()
    batcher = Batcher(BatchingConfig(max_batch_rows=64, max_wait_ms=0))
    inputs = [[float(i), float(i) + 0.5] for i in range(16)]
    results = _call_concurrently(batcher, servable, inputs)
    for index, values in enumerate(inputs):
        assert results[index]["outputs"].ravel().tolist() == [2 * v for v in values]
    assert sum(servable.batch_sizes) == 32
    assert len(servable.batch_sizes) < 16  # merged
    assert max(servable.batch_sizes) <= 64 and batcher.batched_calls == 16


def test_batches_respect_the_row_limit():
    servable = SlowDoubler()
    batcher = Batcher(BatchingConfig(max_batch_rows=4, max_wait_ms=0))
    results = _call_concurrently(batcher, servable, [[1.0, 2.0, 3.0]] * 6)
    assert all(r["outputs"].ravel().tolist() == [2.0, 4.0, 6.0] for r in results.values())
    assert max(servable.batch_sizes) <= 4


def test_one_bad_request_fails_alone():
    servable = SlowDoubler()
    batcher = Batcher(BatchingConfig(max_batch_rows=64, max_wait_ms=2))
    inputs = [[1.0]] * 7 + [[-1.0]]
    results = _call_concurrently(batcher, servable, inputs)
    assert isinstance(results[7], ValueError)
    assert all(results[i]["outputs"].ravel().tolist() == [2.0] for i in range(7))


def test_a_request_at_the_limit_bypasses_the_queue():
    servable = SlowDoubler()
    batcher = Batcher(BatchingConfig(max_batch_rows=2, max_wait_ms=0))
    out = batcher.predict(servable, "serving_raw", {"x": np.arange(5, dtype=np.float32)})
    assert out["outputs"].ravel().tolist() == [0, 2, 4, 6, 8] and batcher.batches == 0
    with pytest.raises(ValueError, match="negative"):
        batcher.predict(servable, "serving_raw", {"x": np.array([-1.0], dtype=np.float32)})


def test_by_default_concurrent_256_row_requests_merge():
    # The benchmark's batch size: a 1024-row call costs about half as much per row (config comment).
    servable = SlowDoubler()
    batcher = Batcher(BatchingConfig())
    inputs = [[float(i)] * 256 for i in range(8)]
    results = _call_concurrently(batcher, servable, inputs)
    assert all(results[i]["outputs"].ravel().tolist() == [2.0 * i] * 256 for i in range(8))
    assert max(servable.batch_sizes) > 256 and max(servable.batch_sizes) <= 1024


# The deadline (`serving.request_timeout_ms`): what a stuck model call does to its requests and
# to the requests behind it (the module doc of batching.py).


class GatedDoubler:
    """Doubles `x`; a call with a negative value is stuck until `gate` is set."""

    model_name, version = "gated", 3

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.calls: list[list[float]] = []

    def run(self, signature, columns):
        values = columns["x"]
        self.calls.append(values.tolist())
        if (values < 0).any():
            self.gate.wait(30)
        return {"outputs": values * 2}


@pytest.fixture
def gated():
    servable = GatedDoubler()
    yield servable
    servable.gate.set()  # frees the stuck call threads


class Client(threading.Thread):
    """One caller on its own thread: its answer or error, and how long it waited."""

    def __init__(self, batcher: Batcher, servable, values: list[float]) -> None:
        super().__init__(daemon=True)
        self.batcher, self.servable, self.values = batcher, servable, values
        self.result: object = None
        self.waited = float("nan")

    def run(self) -> None:
        started = time.monotonic()
        try:
            self.result = self.batcher.predict(
                self.servable, "serving_raw", {"x": np.array(self.values, dtype=np.float32)}
            )
        except Exception as error:  # noqa: BLE001 - the test reads it
            self.result = error
        self.waited = time.monotonic() - started

    def answer(self, timeout: float = 10.0) -> object:
        self.start()
        return self.outcome(timeout)

    def outcome(self, timeout: float = 10.0) -> object:
        self.join(timeout)
        assert not self.is_alive(), f"the request {self.values} hangs"
        return self.result


def _eventually(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


def _doubled(result) -> list[float]:
    assert isinstance(result, dict), f"expected outputs, got {result!r}"
    return result["outputs"].ravel().tolist()


def test_requests_in_and_behind_a_stuck_call_fail_after_the_deadline(gated):
    batcher = Batcher(BatchingConfig(max_batch_rows=64, max_wait_ms=0), timeout_s=0.3)
    stuck, behind = Client(batcher, gated, [-1.0]), Client(batcher, gated, [-2.0])
    stuck.start()
    _eventually(lambda: gated.calls)  # the first call is running (and stuck)
    behind.start()
    for client in (stuck, behind):
        error = client.outcome()
        assert isinstance(error, ModelCallTimeoutError)
        assert 0.29 <= client.waited < 1.3
        assert str(error).startswith(
            "model 'gated' version 3 signature 'serving_raw': no answer within the 300 ms"
        )
    assert batcher.timeouts == 2


def test_a_large_request_running_alone_fails_after_the_deadline(gated):
    batcher = Batcher(BatchingConfig(max_batch_rows=2, max_wait_ms=0), timeout_s=0.2)
    client = Client(batcher, gated, [1.0, -1.0, 2.0])
    assert isinstance(client.answer(), ModelCallTimeoutError)
    assert 0.19 <= client.waited < 1.2 and batcher.batches == 0


def test_requests_behind_a_stuck_call_are_answered_by_a_new_call(gated):
    batcher = Batcher(BatchingConfig(max_batch_rows=64, max_wait_ms=0), timeout_s=0.5)
    stuck = Client(batcher, gated, [-1.0])
    stuck.start()
    _eventually(lambda: gated.calls)
    time.sleep(0.2)  # queued well before the stuck call is given up on, 0.5 s after it started
    behind = Client(batcher, gated, [3.0])
    assert _doubled(behind.answer()) == [6.0]
    assert isinstance(stuck.outcome(), ModelCallTimeoutError)
    # The queued request ran in a call of its own once the stuck one was given up on.
    assert gated.calls == [[-1.0], [3.0]] and batcher.stuck == 1
    later = Client(batcher, gated, [4.0])
    assert _doubled(later.answer()) == [8.0] and later.waited < 0.25  # the lane is free
    gated.gate.set()
    _eventually(lambda: batcher.stuck == 0)


def test_a_result_arriving_after_the_deadline_is_discarded(gated):
    batcher = Batcher(BatchingConfig(max_batch_rows=64, max_wait_ms=0), timeout_s=0.2)
    late = Client(batcher, gated, [-1.0])
    assert isinstance(late.answer(), ModelCallTimeoutError)
    assert batcher.late_results == 0
    gated.gate.set()  # the stuck call returns now, after its request has failed
    _eventually(lambda: batcher.late_results == 1)
    assert _doubled(Client(batcher, gated, [2.0]).answer()) == [4.0]
    assert batcher.timeouts == 1


def test_past_max_stuck_calls_the_lane_refuses_at_once_until_one_returns(gated):
    batcher = Batcher(BatchingConfig(max_batch_rows=64, max_wait_ms=0), timeout_s=0.3, max_stuck_calls=1)
    stuck = Client(batcher, gated, [-1.0])
    stuck.start()
    _eventually(lambda: gated.calls)
    queued = Client(batcher, gated, [5.0])
    for client in (queued, stuck):
        error = client.answer() if client is queued else client.outcome()
        assert isinstance(error, ModelCallTimeoutError)
    assert "1 earlier model call(s) have not returned" in str(queued.result)
    refused = Client(batcher, gated, [7.0])
    assert "have not returned" in str(refused.answer()) and refused.waited < 0.15
    assert gated.calls == [[-1.0]] and batcher.stuck == 1  # neither ran: they were refused
    gated.gate.set()
    _eventually(lambda: batcher.stuck == 0)
    assert _doubled(Client(batcher, gated, [2.0]).answer()) == [4.0]


def test_a_timeout_is_the_servers_error_not_the_clients(gated):
    batcher = Batcher(BatchingConfig(), timeout_s=0.1)
    with pytest.raises(ModelCallTimeoutError) as raised:
        infer(batcher.predict, gated, "serving_raw", {"x": np.array([-1.0], dtype=np.float32)})
    # Not a ValueError: `infer` would make it a ModelInputError, a 400.
    assert isinstance(raised.value, LifecycleError) and not isinstance(raised.value, ValueError)


def test_by_default_the_deadline_is_the_configs():
    assert Batcher(BatchingConfig()).timeout_s == ServingConfig().request_timeout_ms / 1000

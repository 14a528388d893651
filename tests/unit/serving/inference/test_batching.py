"""The request batcher: concurrent calls merge into fewer model calls, each caller gets its own rows."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from ml_lifecycle.config.serving import BatchingConfig
from ml_lifecycle.serving.inference.batching import Batcher


class SlowDoubler:
    """Doubles `x`; each call takes a few ms so that callers pile up; negative input is rejected."""

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

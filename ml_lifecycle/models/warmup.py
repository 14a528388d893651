"""The exported model's warmup contract: TF Serving warmup records replayed against a signature.

ModelCheck stamps `assets.extra/tf_serving_warmup_requests` into the model it blesses and replays
them before the Pusher may push it; the model server replays the same records before a pushed
version may answer. Both replay through `replay`, so "warm" means the same thing to both.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from ml_lifecycle.base.contracts import ArtifactFile


class ModelCheckError(RuntimeError):
    """The exported model cannot answer a serving request correctly."""


@dataclass
class CheckResult:
    requests: int = 0
    examples: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def p50_ms(self) -> float:
        return float(np.percentile(self.latencies_ms, 50)) if self.latencies_ms else 0.0


def check_outputs(outputs: dict[str, np.ndarray], batch_size: int) -> None:
    """Every output has one row per example and only finite numbers."""
    if not outputs:
        raise ModelCheckError("the signature returned no outputs")
    for key, value in outputs.items():
        value = np.asarray(value)
        if value.shape[:1] != (batch_size,):
            raise ModelCheckError(f"output {key!r} has shape {value.shape}, expected {batch_size} rows")
        if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            raise ModelCheckError(f"output {key!r} holds NaN or infinite values")


def replay(signature, logs: list[prediction_log_pb2.PredictionLog]) -> CheckResult:
    """Sends each warmup request to a loaded signature and checks the answers."""
    result = CheckResult()
    for log in logs:
        inputs = {
            key: tf.constant(tf.make_ndarray(tensor))
            for key, tensor in log.predict_log.request.inputs.items()
        }
        batch_size = int(next(iter(inputs.values())).shape[0])
        started = time.perf_counter()
        try:
            outputs = signature(**inputs)
        except (tf.errors.OpError, TypeError, ValueError) as error:
            raise ModelCheckError(f"the model rejected a warmup request: {error}") from error
        result.latencies_ms.append((time.perf_counter() - started) * 1000)
        check_outputs({k: v.numpy() for k, v in outputs.items()}, batch_size)
        result.requests += 1
        result.examples += batch_size
    return result


def read_warmup_requests(model_dir: Path) -> list[prediction_log_pb2.PredictionLog]:
    """The warmup records stamped into a SavedModel directory; none if it has no warmup file."""
    warmup_file = Path(model_dir) / ArtifactFile.WARMUP_REQUESTS
    if not warmup_file.exists():
        return []
    records = tf.data.TFRecordDataset(str(warmup_file)).as_numpy_iterator()
    return [prediction_log_pb2.PredictionLog.FromString(record) for record in records]

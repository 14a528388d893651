"""Pure core of the model check: warmup requests from real examples, and checks of the answers.

TFX's InfraValidator starts a TF Serving binary (or container), which cannot be installed here;
this check loads the SavedModel in-process instead, which catches the same export problems
(missing signature, parse errors, NaN outputs) in a fraction of the time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

# TF Serving reads at most this many warmup records.
MAX_WARMUP_RECORDS = 1000


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


def strip_features(serialized_example: bytes, drop: set[str]) -> bytes:
    """Removes features (the label) a serving client would not send."""
    example = tf.train.Example.FromString(serialized_example)
    for name in drop:
        if name in example.features.feature:
            del example.features.feature[name]
    return example.SerializeToString()


def warmup_requests(
    serialized_examples: list[bytes],
    model_name: str,
    signature_name: str,
    input_key: str,
) -> list[prediction_log_pb2.PredictionLog]:
    """One single-example request per example, plus one batch of all of them."""
    if not serialized_examples:
        raise ModelCheckError("no examples to build warmup requests from")
    batches = [[e] for e in serialized_examples[: MAX_WARMUP_RECORDS - 1]]
    batches.append(list(serialized_examples))
    logs = []
    for batch in batches:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model_name
        request.model_spec.signature_name = signature_name
        request.inputs[input_key].CopyFrom(tf.make_tensor_proto(batch, dtype=tf.string))
        logs.append(
            prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
        )
    return logs


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

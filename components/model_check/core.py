"""Pure core of the model check: warmup requests from real examples, replayed and checked by
`ml_lifecycle.models.warmup` (the same replay the model server warms a version up with).

TFX's InfraValidator starts a TF Serving binary (or container), which cannot be installed here;
this check loads the SavedModel in-process instead, which catches the same export problems
(missing signature, parse errors, NaN outputs) in a fraction of the time.
"""

from __future__ import annotations

import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from ml_lifecycle.models.warmup import ModelCheckError

# TF Serving reads at most this many warmup records.
MAX_WARMUP_RECORDS = 1000


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

"""A pushed version is loaded, then warmed up before it may answer a request.

Warmup replays the records the model check stamped into the model (`ml_lifecycle.models.warmup`,
the same replay the check ran) on every signature they name, then sends the same rows through the
raw-feature signature, whose scores must match the serialized-example signature's: JSON rows and
tf.Examples must get the same answer, as many values per row as the model's task says. Any
failure is a `ModelCheckError`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from ml_lifecycle.base.contracts import RAW_SIGNATURE, SERVING_SIGNATURE
from ml_lifecycle.models.warmup import ModelCheckError, read_warmup_requests, replay
from ml_lifecycle.serving.inference.answers import answer_of
from ml_lifecycle.serving.inference.codec import example_rows, rows_to_columns
from ml_lifecycle.serving.inference.servable import ServableVersion

# Scores of the two signatures on the same warmup rows may differ by float rounding only.
SIGNATURE_AGREEMENT_TOLERANCE = 1e-4
# Single-row calls of the raw signature made after its batch call (the common request size).
_SINGLE_ROW_CALLS = 8


def warm_up(servable: ServableVersion, logs: list[prediction_log_pb2.PredictionLog]) -> int:
    """Replays the pushed warmup requests; then the same rows through the raw-feature signature,
    whose scores must match the serialized-example signature's. Returns the number of requests."""
    predict_logs = [entry for entry in logs if entry.HasField("predict_log")]
    replayed = 0
    for signature_name in sorted(
        {entry.predict_log.request.model_spec.signature_name for entry in predict_logs}
    ):
        name = signature_name or SERVING_SIGNATURE
        if name not in servable.signatures:
            raise ModelCheckError(f"warmup requests name signature {name!r}, which the model does not have")
        batch = [e for e in predict_logs if (e.predict_log.request.model_spec.signature_name or name) == name]
        replayed += replay(servable.function(name), batch).requests
    raw = servable.request_inputs.get(RAW_SIGNATURE)
    if raw is None or not predict_logs:
        return replayed
    examples = [
        bytes(value)
        for entry in predict_logs
        for value in tf.make_ndarray(next(iter(entry.predict_log.request.inputs.values()))).tolist()
    ]
    # The warmup file repeats its examples (single rows, then all of them as one batch).
    examples = list(dict.fromkeys(examples))
    # tf.Examples name features by column; the raw signature's arguments are internal names.
    columns = rows_to_columns(example_rows(examples, raw), raw)
    raw_scores = servable.run(RAW_SIGNATURE, columns)
    try:
        answer_of(raw_scores, servable.description, RAW_SIGNATURE)
    except ValueError as error:
        raise ModelCheckError(f"signature {RAW_SIGNATURE!r} on the warmup rows: {error}") from error
    single_rows = min(len(examples), _SINGLE_ROW_CALLS)
    for index in range(single_rows):
        servable.run(RAW_SIGNATURE, {k: v[index : index + 1] for k, v in columns.items()})
    example_scores = servable.run(SERVING_SIGNATURE, {"examples": np.array(examples, dtype=object)})
    for key, expected in example_scores.items():
        got = raw_scores.get(key)
        if got is None or got.shape != expected.shape:
            raise ModelCheckError(
                f"signature {RAW_SIGNATURE!r} output {key!r} differs in shape from {SERVING_SIGNATURE!r}"
            )
        worst = float(np.max(np.abs(got - expected))) if expected.size else 0.0
        if worst > SIGNATURE_AGREEMENT_TOLERANCE:
            raise ModelCheckError(
                f"signatures {RAW_SIGNATURE!r} and {SERVING_SIGNATURE!r} disagree on the warmup rows "
                f"(max |difference| {worst:.6f} on output {key!r})"
            )
    return replayed + 2 + single_rows


def load_version(model_name: str, version: int, path: Path) -> ServableVersion:
    """The repository's loader: a version that loaded and warmed up, or an exception."""
    servable = ServableVersion(model_name, version, path)
    warm_up(servable, read_warmup_requests(path))
    return servable

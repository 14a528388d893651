"""The prediction log's record: one answered request as a TF Serving `PredictionLog`.

A predict is a `predict_log` (inputs and outputs as tensors, inputs named by column as the
request named them), a classify a `classify_log` and a regress a `regress_log`, whose requests
carry the rows as tf.Examples (features named by column) and whose responses hold the classes
with their scores, or the values. `log_results` reads a record's answer back in the REST shape.

Where the server's extra facts go: `PredictionLog` has no latency or routing field, and
`LogMetadata.model_spec.version_label` means "the label the client asked for", which the route
is not (a `stable` request may be routed to the canary). `LogMetadata.request_origin` is a free
string TF Serving itself leaves empty, so it carries both as a URL query string,
`route=canary&latency_ms=3.125` (`log_annotations()` parses it back), and
`sampling_config.sampling_rate` records the rate in force, so counts can be re-weighted.

A record's inputs are what `serving.privacy` lets be written (the hooks apply it when they build
the record, `observability.privacy`): a dropped feature is absent from the tensors and the
tf.Examples, a hashed one holds HMAC text.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode

import numpy as np
from tensorflow.core.example import example_pb2
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import prediction_log_pb2

from ml_lifecycle.datasets.span_files import cell
from ml_lifecycle.serving.inference.answers import SCORING_SIGNATURES
from ml_lifecycle.serving.inference.codec import example_row, float32_value
from ml_lifecycle.serving.observability.log_tensors import fill_tensor, tensor_values
from ml_lifecycle.serving.protocol.methods import Method
from ml_lifecycle.serving.protocol.responses import RESULT_KEY


@dataclass(frozen=True)
class LoggedPrediction:
    """One answered request as the server saw it.

    `inputs` is columnar: feature name -> one value per row (raw features from JSON), or
    {"examples": [serialized tf.Example bytes, ...]} for the tf.Example signature, classify and
    regress. `outputs` is columnar too ({"outputs": [[0.8], ...]}, nested lists or numpy arrays),
    or TF Serving's REST shape: classify {"result": [[[label, score], ...], ...]}, regress
    {"result": [value, ...]}. ("results", the key this server wrote before, is read as "result".)
    """

    model: str
    version: int
    signature_name: str
    method: Method
    inputs: dict[str, list]
    outputs: dict[str, list | np.ndarray]
    route: str
    latency_ms: float
    time_s: float


# What this server wrote before the key became TF Serving's `result`.
_OLD_RESULT_KEY = "results"


def record_results(outputs: dict) -> list:
    """A classify or regress record's REST-shaped results ("result", or the older "results")."""
    if RESULT_KEY in outputs:
        return list(outputs[RESULT_KEY])
    if _OLD_RESULT_KEY in outputs:
        return list(outputs[_OLD_RESULT_KEY])
    raise ValueError(f"a classify or regress record needs outputs {{{RESULT_KEY!r}: [...]}}")


# What one value adds to an encoded record, about: a float32 or int64 and its framing.
_VALUE_BYTES = 8


def estimated_bytes(record: LoggedPrediction) -> int:
    """About the size of the record once encoded, cheap enough to run on every submit: numpy
    columns their nbytes, lists 8 bytes a value plus the length of their text, serialized
    tf.Examples their length. The writer bounds its queue by this (`max_queue_bytes`)."""
    return sum(_column_bytes(v) for v in record.inputs.values()) + sum(
        _column_bytes(v) for v in record.outputs.values()
    )


def _column_bytes(values) -> int:
    if isinstance(values, np.ndarray):
        if values.dtype == object:
            return _column_bytes(values.ravel().tolist())
        return int(values.nbytes)
    if not isinstance(values, (list, tuple)):
        return _VALUE_BYTES
    first = next((value for value in values if value is not None), None)
    if isinstance(first, (str, bytes)):
        try:
            # C speed; filter(None) leaves out None and empty text (a 3840-value column: ~20 us).
            return _VALUE_BYTES * len(values) + sum(map(len, filter(None, values)))
        except TypeError:  # a column mixing text with other values
            return sum(len(v) if isinstance(v, (str, bytes)) else _VALUE_BYTES for v in values)
    if isinstance(first, (list, tuple, np.ndarray)):
        # Rows of a rectangular tensor (or of classify's [label, score] pairs): alike in size.
        return len(values) * _column_bytes(first)
    return _VALUE_BYTES * len(values)


def to_prediction_log(record: LoggedPrediction, sample_rate: float = 1.0) -> prediction_log_pb2.PredictionLog:
    """The PredictionLog for one record (predict_log, classify_log or regress_log)."""
    log = prediction_log_pb2.PredictionLog()
    metadata = log.log_metadata
    _fill_model_spec(metadata.model_spec, record)
    metadata.timestamp_secs = int(record.time_s)
    metadata.sampling_config.sampling_rate = sample_rate
    metadata.request_origin = urlencode({"route": record.route, "latency_ms": f"{record.latency_ms:.3f}"})
    if record.method == Method.PREDICT:
        _fill_model_spec(log.predict_log.request.model_spec, record)
        _fill_model_spec(log.predict_log.response.model_spec, record)
        for name, values in record.inputs.items():
            fill_tensor(log.predict_log.request.inputs[name], values)
        for name, values in record.outputs.items():
            fill_tensor(log.predict_log.response.outputs[name], values)
    elif record.method in (Method.CLASSIFY, Method.REGRESS):
        entry = log.classify_log if record.method == Method.CLASSIFY else log.regress_log
        _fill_model_spec(entry.request.model_spec, record)
        _fill_model_spec(entry.response.model_spec, record)
        for example in record.inputs["examples"]:
            entry.request.input.example_list.examples.add().ParseFromString(bytes(example))
        results = record_results(record.outputs)
        if record.method == Method.CLASSIFY:
            for row in results:
                classifications = entry.response.result.classifications.add()
                for label, score in row:
                    classifications.classes.add(label=str(label), score=float(score))
        else:
            for value in results:
                entry.response.result.regressions.add(value=float(value))
    else:
        raise ValueError(f"method {record.method!r}: expected 'predict', 'classify' or 'regress'")
    return log


def log_results(log: prediction_log_pb2.PredictionLog) -> dict[str, list]:
    """A record's answer as the REST response held it: classify {"result": [[[label, score],
    ...], ...]}, regress {"result": [value, ...]}, predict {output name: values} (nested lists);
    scores and values as the shortest decimal of their float32."""
    kind = log.WhichOneof("log_type")
    if kind == "classify_log":
        classifications = log.classify_log.response.result.classifications
        return {
            RESULT_KEY: [[[c.label, float32_value(c.score)] for c in row.classes] for row in classifications]
        }
    if kind == "regress_log":
        return {RESULT_KEY: [float32_value(r.value) for r in log.regress_log.response.result.regressions]}
    if kind == "predict_log":
        return {name: tensor_values(proto) for name, proto in log.predict_log.response.outputs.items()}
    raise ValueError(f"a {kind} record holds no answer this server writes")


def _fill_model_spec(spec, record: LoggedPrediction) -> None:
    spec.name = record.model
    spec.version.value = int(record.version)
    spec.signature_name = record.signature_name


def log_annotations(log: prediction_log_pb2.PredictionLog) -> tuple[str, float | None]:
    """(route, latency in ms) stored in `log_metadata.request_origin` by this writer."""
    fields = parse_qs(log.log_metadata.request_origin)
    route = fields.get("route", [""])[0]
    latency = fields.get("latency_ms", [None])[0]
    return route, float(latency) if latency is not None else None


def rows_from_prediction_logs(
    logs: Iterable[prediction_log_pb2.PredictionLog], model: str | None = None
) -> Iterator[dict[str, object]]:
    """Raw feature rows of logged requests (None where a value was missing), ready to be
    labelled and written as a span: columnar predict inputs are cut into rows, tf.Examples
    (classify, regress, or a predict input called `examples`) are parsed. Shadow copies are skipped
    (the live record of the same request holds the same inputs), and so are requests to a
    signature that does not score (`transform_features`: labelled examples, not predictions)."""
    for log in logs:
        if model is not None and log.log_metadata.model_spec.name != model:
            continue
        route, _ = log_annotations(log)
        if route == "shadow":
            continue
        signature = log.log_metadata.model_spec.signature_name
        if signature and signature not in SCORING_SIGNATURES:
            continue
        kind = log.WhichOneof("log_type")
        if kind in ("classify_log", "regress_log"):
            for example in getattr(log, kind).request.input.example_list.examples:
                yield example_row(example)
        elif kind == "predict_log":
            yield from _predict_rows(log.predict_log.request.inputs)


def _predict_rows(inputs) -> Iterator[dict[str, object]]:
    if set(inputs) == {"examples"} and inputs["examples"].dtype == types_pb2.DT_STRING:
        for serialized in inputs["examples"].string_val:
            yield example_row(example_pb2.Example.FromString(serialized))
        return
    columns = {name: tensor_values(proto) for name, proto in inputs.items()}
    count = max((len(values) for values in columns.values()), default=0)
    for index in range(count):
        yield {name: cell(values[index]) if index < len(values) else None for name, values in columns.items()}

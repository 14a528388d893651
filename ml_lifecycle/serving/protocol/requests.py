"""Predict, classify and regress bodies decoded into one signature call (`DecodedRequest`).

`{"instances": [...]}` (rows) and `{"inputs": ...}` (columns) go to `serving_raw` as checked feature
values, or to `serving_default` when they carry serialized tf.Examples (`{"b64": ...}`), or to the
signature `signature_name` names (one that takes only serialized tf.Examples, like a multiclass
model's `transform_features`, is sent them as `serving_default` is); classify's and regress's
`{"examples": [...], "context": {...}}` go to `serving_raw` (a `signature_name` of
`serving_default`, which TF Serving clients send by default, is taken to mean it: the examples
are feature objects, not serialized). Requests name features by their columns (`Body Mass (g)`);
the dense columns are keyed by the signature's arguments (`ServableVersion.request_inputs`).
Every decoder counts a request's rows (instances, the columns' first dimension, examples) before
it checks or converts any value: more than `FeatureRules.max_rows` is a 413. Pure: nothing here
runs a model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import orjson

from ml_lifecycle.base.contracts import RAW_SIGNATURE, SERVING_SIGNATURE
from ml_lifecycle.base.text import ascii_digits
from ml_lifecycle.serving.inference.codec import dense_column, example_rows, serialized_examples
from ml_lifecycle.serving.inference.servable import ServableVersion
from ml_lifecycle.serving.inference.signatures import InputSpec
from ml_lifecycle.serving.protocol.errors import ApiError, json_type
from ml_lifecycle.serving.protocol.methods import Method
from ml_lifecycle.serving.protocol.values import (
    FeatureRules,
    b64_bytes,
    check_rows,
    columns_to_values,
    rows_to_values,
)


@dataclass
class DecodedRequest:
    """A predict/classify/regress body turned into one signature call."""

    signature: str
    # The signature's dense inputs, by argument.
    columns: dict[str, np.ndarray]
    # Columnar Python values as the client sent them (None = missing), by column, for logs,
    # monitoring and review.
    values: dict[str, list]
    rows: int
    row_format: bool
    # Serialized tf.Examples when the request's signature takes them (`serving_default`).
    examples: list[bytes] | None = None
    # Column -> the dtype kind of its input ("f", "i", "O"), for encoding rows as tf.Examples.
    kinds: dict[str, str] | None = None

    def as_examples(self) -> list[bytes]:
        """The request's rows as serialized tf.Examples (absent values left out) whose features
        are named by column and typed as the signature's inputs; the client's own bytes when it
        sent tf.Examples."""
        if self.examples is not None:
            return self.examples
        return serialized_examples(self.values, self.kinds or {}, self.rows)

    def input_rows(self, limit: int) -> list[dict[str, object]]:
        """Up to `limit` rows of raw values (tf.Examples decoded), spread evenly over the request."""
        step = -(-self.rows // limit)
        if self.examples is not None:
            return example_rows(self.examples[::step])
        names = list(self.values)
        columns = [column[::step] for column in self.values.values()]
        return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def parse_json(body: bytes) -> object:
    if not body:
        raise ApiError(400, "JSON Parse error: the request body is empty")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise ApiError(400, f"JSON Parse error: {error}") from error


def parse_version(text: str) -> int:
    if not ascii_digits(text):
        raise ApiError(400, f"Failed to convert version: {text} to numeric.")
    return int(text)


def _is_example_payload(item: object) -> bool:
    if isinstance(item, dict):
        return set(item) == {"b64"} or set(item) == {"examples"}
    return isinstance(item, str)


def _choose_signature(payload: dict, servable: ServableVersion, sample: object) -> str:
    name = payload.get("signature_name")
    if name is not None:
        if not isinstance(name, str) or name not in servable.signatures:
            raise ApiError(
                400,
                f'Serving signature name: "{name}" not found in signature def '
                f"(model version {servable.version} has {sorted(servable.signatures)})",
            )
        return name
    if _is_example_payload(sample) or RAW_SIGNATURE not in servable.signatures:
        return SERVING_SIGNATURE
    return RAW_SIGNATURE


def _takes_examples(servable: ServableVersion, signature: str) -> bool:
    """Whether the signature's one input is serialized tf.Examples (`serving_default`,
    `transform_features`), which requests send as `{"b64": ...}`."""
    inputs = servable.signatures[signature].inputs
    return signature == SERVING_SIGNATURE or (
        set(inputs) == {"examples"} and inputs["examples"].dtype == np.dtype(object)
    )


def decode_predict(payload: object, servable: ServableVersion, rules: FeatureRules) -> DecodedRequest:
    """`{"instances": [...]}` (rows) or `{"inputs": ...}` (columns) as one signature call."""
    if not isinstance(payload, dict):
        raise ApiError(400, f"the request must be a JSON object, got {json_type(payload)}")
    has_instances, has_inputs = "instances" in payload, "inputs" in payload
    if has_instances == has_inputs:
        raise ApiError(
            400,
            "Missing 'inputs' or 'instances' key"
            if not has_inputs
            else "use 'instances' or 'inputs', not both",
        )
    unknown = sorted(set(payload) - {"instances", "inputs", "signature_name"})
    if unknown:
        raise ApiError(
            400, f"unknown key(s) {unknown} in the request; expected instances or inputs, signature_name"
        )
    if has_instances:
        instances = payload["instances"]
        if not isinstance(instances, list) or not instances:
            raise ApiError(400, "'instances' must be a non-empty list")
        check_rows(len(instances), rules, "instances")
        signature = _choose_signature(payload, servable, instances[0])
        if _takes_examples(servable, signature):
            examples = [_example_bytes(item, f"instances[{i}]") for i, item in enumerate(instances)]
            return _examples_request(signature, examples, row_format=True)
        inputs = servable.request_inputs[signature]
        values = rows_to_values(instances, inputs, rules, "instances")
        return _raw_request(signature, values, inputs, len(instances), row_format=True)
    inputs_payload = payload["inputs"]
    sample = inputs_payload[0] if isinstance(inputs_payload, list) and inputs_payload else inputs_payload
    if isinstance(inputs_payload, dict) and set(inputs_payload) == {"examples"}:
        sample = (inputs_payload["examples"] or [None])[0]
    signature = _choose_signature(payload, servable, sample)
    if _takes_examples(servable, signature):
        items = inputs_payload.get("examples") if isinstance(inputs_payload, dict) else inputs_payload
        if not isinstance(items, list) or not items:
            raise ApiError(
                400, f"'inputs' for {signature} must be a non-empty list of {{\"b64\": ...}} examples"
            )
        check_rows(len(items), rules, "inputs")
        examples = [_example_bytes(item, f"inputs[{i}]") for i, item in enumerate(items)]
        return _examples_request(signature, examples, row_format=False)
    inputs = servable.request_inputs[signature]
    values, rows = columns_to_values(inputs_payload, inputs, rules)
    return _raw_request(signature, values, inputs, rows, row_format=False)


def decode_examples(
    payload: object, servable: ServableVersion, rules: FeatureRules, method: Method = Method.CLASSIFY
) -> DecodedRequest:
    """TF Serving's classify and regress body (`method`):
    `{"examples": [{feature: value}, ...], "context"?: {...}}`."""
    if not isinstance(payload, dict):
        raise ApiError(400, f"the request must be a JSON object, got {json_type(payload)}")
    unknown = sorted(set(payload) - {"examples", "context", "signature_name"})
    if unknown:
        raise ApiError(
            400, f"unknown key(s) {unknown} in the request; expected examples, context, signature_name"
        )
    examples = payload.get("examples")
    if not isinstance(examples, list) or not examples:
        raise ApiError(400, "'examples' must be a non-empty list of feature objects")
    check_rows(len(examples), rules, "examples")
    name = payload.get("signature_name")
    # TF Serving clients send `serving_default` unless told otherwise: the raw signature is meant.
    if name is not None and name not in (RAW_SIGNATURE, SERVING_SIGNATURE):
        raise ApiError(400, f"{method} runs the raw-feature signature {RAW_SIGNATURE!r}, not {name!r}")
    if RAW_SIGNATURE not in servable.signatures:
        raise ApiError(
            400, f"model version {servable.version} has no {RAW_SIGNATURE!r} signature to {method} with"
        )
    context = payload.get("context") or {}
    if not isinstance(context, dict):
        raise ApiError(400, "'context' must be an object of feature values")
    if context:
        examples = [{**context, **example} if isinstance(example, dict) else example for example in examples]
    inputs = servable.request_inputs[RAW_SIGNATURE]
    values = rows_to_values(examples, inputs, rules, "examples")
    return _raw_request(RAW_SIGNATURE, values, inputs, len(examples), row_format=True)


def _examples_request(signature: str, examples: list[bytes], row_format: bool) -> DecodedRequest:
    column = np.array(examples, dtype=object)
    return DecodedRequest(
        signature, {"examples": column}, {"examples": examples}, len(examples), row_format, examples
    )


def _raw_request(
    signature, values: dict[str, list], inputs: dict[str, InputSpec], rows: int, row_format: bool
):
    """`values` and `inputs` by column; the dense columns by the signature's argument (spec.name)."""
    columns = {}
    for column, spec in inputs.items():
        columns[spec.name] = dense_column(values[column], spec)
    kinds = {column: spec.dtype.kind for column, spec in inputs.items()}
    return DecodedRequest(signature, columns, values, rows, row_format, kinds=kinds)


def _example_bytes(item: object, where: str) -> bytes:
    if isinstance(item, dict) and set(item) == {"examples"}:
        item = item["examples"]
    decoded = b64_bytes(item, where)
    if decoded is not None:
        return decoded
    if isinstance(item, str):
        return item.encode()
    raise ApiError(
        400, f'{where}: expected a serialized tf.Example as {{"b64": "..."}}, got {json_type(item)}'
    )

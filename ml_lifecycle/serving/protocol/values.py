"""JSON feature values checked against a signature's inputs: typed, in range, present if required.

Rows (`{"instances": [{...}]}`, classify's `{"examples": [...]}`) and columns (`{"inputs": {...}}`)
become columnar lists of checked Python values (None: missing, allowed), which the codec turns
into the signature's dense columns. Every refusal names the row and feature at fault. A request
with more rows than `FeatureRules.max_rows` is refused (413) on its row count alone, before any
value is checked or converted: its cost must not grow with what a client chooses to send.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from itertools import repeat

from ml_lifecycle.config.serving import ServingConfig
from ml_lifecycle.serving.inference.codec import INT64_RANGE
from ml_lifecycle.serving.inference.signatures import InputSpec
from ml_lifecycle.serving.protocol.errors import ApiError, json_type


@dataclass(frozen=True)
class FeatureRules:
    """What requests may and must carry, from the curated schema's SERVING environment."""

    # Features whose absence (or null) is a 400; the others are filled as an absent tf.Example
    # feature would be.
    required: frozenset[str] = frozenset()
    # Keys accepted and ignored in rows (the label: clients replaying labelled data send it).
    ignored: frozenset[str] = frozenset()
    # Rows one request may carry (`serving.max_rows_per_request`); more is a 413.
    max_rows: int = ServingConfig.model_fields["max_rows_per_request"].default


def check_rows(rows: int, rules: FeatureRules, where: str) -> None:
    """A 413 when a request carries more rows than `rules.max_rows`; called on the count alone."""
    if rows > rules.max_rows:
        raise ApiError(
            413,
            f"{where}: {rows} rows, more than the {rules.max_rows} a request may carry "
            "(serving.max_rows_per_request); split the request",
        )


def b64_bytes(value: object, where: str) -> bytes | None:
    """The bytes of TF Serving's binary form `{"b64": "..."}`; None for any other value."""
    if not (isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str)):
        return None
    try:
        return base64.b64decode(value["b64"], validate=True)
    except (binascii.Error, ValueError) as error:
        raise ApiError(400, f"{where}: invalid base64: {error}") from error


# Python types a JSON value may have for each input dtype kind, on the fast path.
_FAST_TYPES = {"f": {int, float}, "i": {int}, "O": {str}}
_NONE_TYPE = type(None)


def rows_to_values(
    rows: list, inputs: dict[str, InputSpec], rules: FeatureRules, where: str
) -> dict[str, list]:
    """Row objects -> columnar lists of checked Python values (None: missing, allowed)."""
    known = set(inputs) | rules.ignored
    for index, row in enumerate(rows):
        if type(row) is not dict:
            raise ApiError(
                400, f"{where}[{index}]: expected an object of feature values, got {json_type(row)}"
            )
        if not row.keys() <= known:
            unknown = sorted(set(row) - known)
            raise ApiError(
                400, f"{where}[{index}]: unknown feature(s) {unknown}; the model takes {sorted(inputs)}"
            )
    return {
        # map(dict.get, ...) transposes at C speed; a missing key reads as None (missing).
        name: _checked_column(
            list(map(dict.get, rows, repeat(name))), spec, name in rules.required, where, "[{i}]", name
        )
        for name, spec in inputs.items()
    }


def columns_to_values(
    payload: object, inputs: dict[str, InputSpec], rules: FeatureRules
) -> tuple[dict[str, list], int]:
    """`{"inputs": {feature: [values...]}}` -> columnar lists of checked values, and the row count."""
    if not isinstance(payload, dict):
        raise ApiError(400, f"'inputs' must be an object of feature columns, got {json_type(payload)}")
    unknown = sorted(set(payload) - set(inputs) - rules.ignored)
    if unknown:
        raise ApiError(400, f"inputs: unknown feature(s) {unknown}; the model takes {sorted(inputs)}")
    lengths = {
        name: len(value) for name, value in payload.items() if isinstance(value, list) and name in inputs
    }
    not_lists = sorted(name for name in payload if name in inputs and name not in lengths)
    if not_lists:
        raise ApiError(400, f"inputs: feature(s) {not_lists} must be lists with one value per row")
    if not lengths:
        raise ApiError(400, "inputs: no feature columns given")
    rows = max(lengths.values())
    check_rows(rows, rules, "inputs")
    uneven = sorted(name for name, length in lengths.items() if length != rows)
    if uneven or rows == 0:
        raise ApiError(
            400, f"inputs: every feature needs the same number of values ({rows}); {uneven} differ"
        )
    values = {}
    for name, spec in inputs.items():
        column = payload.get(name)
        if column is None:
            column = [None] * rows
        values[name] = _checked_column(
            column, spec, name in rules.required, f"inputs['{name}']", "[{i}]", None
        )
    return values, rows


def _checked_column(
    values: list, spec: InputSpec, required: bool, where: str, index_format: str, feature: str | None
) -> list:
    """Checks one column's JSON values against the input's dtype; fast when all are of the right type."""
    kind = spec.dtype.kind
    types = set(map(type, values))
    has_missing = _NONE_TYPE in types
    if (
        types - {_NONE_TYPE} <= _FAST_TYPES[kind]
        and not (has_missing and required)
        and (kind != "i" or _ints_fit([v for v in values if v is not None] if has_missing else values))
    ):
        return values
    checked = []
    for index, value in enumerate(values):
        place = where + index_format.format(i=index) + (f": feature '{feature}'" if feature else "")
        checked.append(_checked_value(value, kind, required, place))
    return checked


def _ints_fit(values: list) -> bool:
    return not values or (INT64_RANGE[0] <= min(values) and max(values) <= INT64_RANGE[1])


def _checked_value(value: object, kind: str, required: bool, place: str) -> object:
    if isinstance(value, list):
        if len(value) > 1:
            raise ApiError(400, f"{place}: expected one value, got a list of {len(value)}")
        value = value[0] if value else None
    if value is None:
        if required:
            raise ApiError(400, f"{place}: missing value (the schema requires this feature)")
        return None
    if kind == "O":
        decoded = b64_bytes(value, place)
        if decoded is not None:
            return decoded
        if isinstance(value, str):
            return value
        raise ApiError(400, f"{place}: expected a string, got {json_type(value)}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        expected = "an integer" if kind == "i" else "a number"
        raise ApiError(400, f"{place}: expected {expected}, got {json_type(value)}")
    if kind == "i":
        if isinstance(value, float):
            raise ApiError(400, f"{place}: expected an integer, got {json_type(value)}")
        if not INT64_RANGE[0] <= value <= INT64_RANGE[1]:
            raise ApiError(400, f"{place}: integer {value} is out of the int64 range")
    return value

"""Request rows checked against the curated schema's SERVING environment (pure).

"Out of schema": a required feature (`presence.min_fraction` 1) missing, a value of the wrong
type, a string outside the feature's string domain, an int or float outside its int/float domain,
more values than `value_count.max`, or a feature the schema does not know. Features
`not_in_environment: SERVING` (the label) are not expected and not checked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tensorflow_metadata.proto.v0 import schema_pb2

from ml_lifecycle.base.contracts import SchemaEnvironment


@dataclass(frozen=True)
class FeatureExpectation:
    """What the SERVING environment of the schema says about one feature's values."""

    name: str
    type: int  # schema_pb2.FeatureType
    required: bool
    max_values: int | None = None
    string_values: frozenset[str] | None = None
    min_value: float | None = None
    max_value: float | None = None


def serving_expectations(schema: schema_pb2.Schema) -> dict[str, FeatureExpectation]:
    """The features expected in SERVING requests (the label and other TRAINING-only ones dropped)."""
    domains = {domain.name: domain for domain in schema.string_domain}
    expectations = {}
    for feature in schema.feature:
        if not _in_environment(feature, schema, SchemaEnvironment.SERVING):
            continue
        strings = None
        if feature.HasField("string_domain"):
            strings = frozenset(feature.string_domain.value)
        elif feature.HasField("domain") and feature.domain in domains:
            strings = frozenset(domains[feature.domain].value)
        low = high = None
        if feature.HasField("int_domain"):
            low = feature.int_domain.min if feature.int_domain.HasField("min") else None
            high = feature.int_domain.max if feature.int_domain.HasField("max") else None
        elif feature.HasField("float_domain"):
            low = feature.float_domain.min if feature.float_domain.HasField("min") else None
            high = feature.float_domain.max if feature.float_domain.HasField("max") else None
        required = feature.presence.min_fraction >= 1.0
        max_values = (
            feature.value_count.max
            if feature.HasField("value_count") and feature.value_count.HasField("max")
            else None
        )
        expectations[feature.name] = FeatureExpectation(
            feature.name, feature.type, required, max_values or None, strings, low, high
        )
    return expectations


def _in_environment(feature: schema_pb2.Feature, schema: schema_pb2.Schema, environment: str) -> bool:
    # TFDV's rule: an explicit in_environment wins, then not_in_environment, then the defaults
    # (no default environments: every feature is in every environment).
    if environment in feature.in_environment:
        return True
    if environment in feature.not_in_environment or feature.in_environment:
        return False
    return not schema.default_environment or environment in schema.default_environment


@dataclass(frozen=True)
class RowCheck:
    missing: tuple[str, ...]
    out_of_schema: tuple[str, ...]  # features out of schema; unknown features included

    @property
    def any_out_of_schema(self) -> bool:
        return bool(self.out_of_schema)


def check_row(row: dict[str, object], expectations: dict[str, FeatureExpectation] | None) -> RowCheck:
    """Which features of one request row are missing and which are out of schema (pure)."""
    if expectations is None:
        return RowCheck(tuple(name for name, value in row.items() if not _values(value)), ())
    missing, out_of_schema = [], []
    for name, expected in expectations.items():
        value = row.get(name)
        kind = type(value)
        if kind is float or kind is int or kind is str:
            # One JSON scalar, the common case: checked without building a list of values.
            if value == "" or (kind is float and value != value):  # "" and NaN are missing
                missing.append(name)
                if expected.required:
                    out_of_schema.append(name)
            elif not _scalar_fits(value, kind, expected):
                out_of_schema.append(name)
            continue
        values = _values(value)
        if not values:
            missing.append(name)
            if expected.required:
                out_of_schema.append(name)
        elif not _values_fit(values, expected):
            out_of_schema.append(name)
    out_of_schema.extend(name for name in row if name not in expectations)
    return RowCheck(tuple(missing), tuple(out_of_schema))


def _values(value: object) -> list:
    """The present values of one cell: None, "", NaN and [] are missing."""
    if isinstance(value, (list, tuple)):
        return [v for item in value for v in _values(item)]
    if value is None or value == "" or value == b"":
        return []
    if isinstance(value, float) and math.isnan(value):
        return []
    return [value]


def _scalar_fits(value: float | int | str, kind: type, expected: FeatureExpectation) -> bool:
    """`_values_fit([value], expected)` for a present float, int or str (not bool), without the list."""
    if expected.type == schema_pb2.BYTES:
        return kind is str and (expected.string_values is None or value in expected.string_values)
    if expected.type == schema_pb2.INT or expected.type == schema_pb2.FLOAT:
        if kind is str:
            return False
        if expected.type == schema_pb2.INT and kind is float and not value.is_integer():
            return False
    return (expected.min_value is None or value >= expected.min_value) and (
        expected.max_value is None or value <= expected.max_value
    )


def _values_fit(values: list, expected: FeatureExpectation) -> bool:
    if expected.max_values is not None and len(values) > expected.max_values:
        return False
    for value in values:
        if expected.type == schema_pb2.INT:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return False
            if isinstance(value, float) and not value.is_integer():
                return False
        elif expected.type == schema_pb2.FLOAT:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return False
        elif expected.type == schema_pb2.BYTES:
            if not isinstance(value, (str, bytes)):
                return False
            text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
            if expected.string_values is not None and text not in expected.string_values:
                return False
            continue
        if expected.min_value is not None and value < expected.min_value:
            return False
        if expected.max_value is not None and value > expected.max_value:
            return False
    return True

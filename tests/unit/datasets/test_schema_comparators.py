"""Drift comparators written into a schema: a configured copy, and the arguments refused."""

from __future__ import annotations

import pytest
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from ml_lifecycle.base.errors import ConfigError
from ml_lifecycle.datasets.schema_comparators import add_drift_comparators, is_categorical_int

# What tfdv.infer_schema returns for a frame of two numeric and two string columns.
INFERRED = """
feature { name: "fare" type: FLOAT presence { min_fraction: 1.0 min_count: 1 } }
feature { name: "trip_miles" type: FLOAT presence { min_fraction: 1.0 min_count: 1 } }
feature { name: "payment" type: BYTES domain: "payment" presence { min_fraction: 1.0 min_count: 1 } }
feature { name: "company" type: BYTES domain: "company" presence { min_fraction: 1.0 min_count: 1 } }
string_domain { name: "payment" value: "a" value: "b" value: "c" }
string_domain { name: "company" value: "x" value: "y" }
"""


@pytest.fixture
def inferred() -> schema_pb2.Schema:
    return text_format.Parse(INFERRED, schema_pb2.Schema())


def test_add_drift_comparators_returns_a_configured_copy(inferred):
    schema = add_drift_comparators(inferred, ["payment"], ["fare"], 0.2, 0.05, max_fraction=2.0)

    by_name = {feature.name: feature for feature in schema.feature}
    assert by_name["payment"].drift_comparator.infinity_norm.threshold == 0.2
    assert by_name["fare"].drift_comparator.jensen_shannon_divergence.threshold == 0.05
    assert not by_name["company"].HasField("drift_comparator")
    comparator = schema.dataset_constraints.num_examples_drift_comparator
    assert comparator.max_fraction_threshold == 2.0
    assert not comparator.HasField("min_fraction_threshold")
    assert not any(feature.HasField("drift_comparator") for feature in inferred.feature)
    assert not inferred.HasField("dataset_constraints")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"categorical_features": ["nope"]}, "no feature"),
        ({"categorical_features": ["fare"], "numeric_features": ["fare"]}, "both"),
        ({"numeric_threshold": 0.0}, "numeric_threshold"),
        ({"min_fraction": 1.5, "max_fraction": 1.2}, "below max_fraction"),
    ],
)
def test_add_drift_comparators_rejects_bad_arguments(inferred, kwargs, match):
    arguments = {
        "categorical_features": [],
        "numeric_features": [],
        "categorical_threshold": 0.1,
        "numeric_threshold": 0.1,
        **kwargs,
    }
    with pytest.raises(ValueError, match=match):
        add_drift_comparators(inferred, **arguments)


def test_an_int_is_categorical_on_itself_or_through_a_named_domain():
    schema = text_format.Parse(
        """
        feature { name: "own" type: INT int_domain { is_categorical: true } }
        feature { name: "named" type: INT domain: "hours" }
        feature { name: "plain" type: INT }
        int_domain { name: "hours" min: 0 max: 23 is_categorical: true }
        """,
        schema_pb2.Schema(),
    )
    own, named, plain = schema.feature

    assert is_categorical_int(schema, own) and is_categorical_int(schema, named)
    assert not is_categorical_int(schema, plain)
    configured = add_drift_comparators(schema, ["own", "named"], [], 0.1, 0.1)
    assert all(f.drift_comparator.HasField("infinity_norm") for f in configured.feature[:2])


def test_refused_arguments_are_config_errors(inferred):
    with pytest.raises(ConfigError, match=r"categorical_threshold must be in \(0, 1\]"):
        add_drift_comparators(inferred, ["payment"], [], 1.5, 0.1)
    with pytest.raises(ConfigError, match="max_fraction must be a finite fraction >= 0, not inf"):
        add_drift_comparators(inferred, [], [], 0.1, 0.1, max_fraction=float("inf"))
    with pytest.raises(ConfigError, match=r"the schema has no feature\(s\) \['nope'\]"):
        add_drift_comparators(inferred, ["nope"], [], 0.1, 0.1)

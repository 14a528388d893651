"""The pure comparisons behind `lifecycle diff`."""

from __future__ import annotations

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from ml_lifecycle.metadata.diff import Change, metric_changes, parameter_changes, schema_changes


def _schema(text: str) -> schema_pb2.Schema:
    return text_format.Parse(text, schema_pb2.Schema())


BEFORE = _schema(
    """
    feature { name: "fare" type: FLOAT }
    feature { name: "payment" type: BYTES domain: "payment" }
    feature { name: "hour" type: INT int_domain { min: 0 max: 23 } }
    string_domain { name: "payment" value: "Cash" value: "Card" }
    """
)
AFTER = _schema(
    """
    feature { name: "fare" type: INT }
    feature { name: "payment" type: BYTES domain: "payment" }
    feature { name: "tips" type: FLOAT }
    string_domain { name: "payment" value: "Cash" value: "Mobile" }
    """
)


def test_schema_changes_name_added_removed_type_and_domain():
    changes = {c.name: c for c in schema_changes(BEFORE, AFTER)}
    assert changes["fare.type"] == Change("fare.type", "FLOAT", "INT")
    assert changes["feature hour"].after is None
    assert changes["feature tips"].before is None
    assert changes["payment.domain"] == Change("payment.domain", "-['Card']", "+['Mobile']")
    assert schema_changes(BEFORE, BEFORE) == []


def test_parameter_changes_parse_json_and_flatten():
    before = {"train_args": '{"num_steps": 100}', "custom_config": '{"training": {"lr": 0.1, "units": [4]}}'}
    after = {"train_args": '{"num_steps": 200}', "custom_config": '{"training": {"lr": 0.1, "units": [8]}}'}
    assert parameter_changes(before, after) == [
        Change("custom_config.training.units", [4], [8]),
        Change("train_args.num_steps", 100, 200),
    ]
    assert parameter_changes(before, before) == []


def test_metric_changes_keep_one_sided_metrics():
    assert metric_changes({"auc": 0.9}, {"auc": 0.8, "loss": 0.3}) == [
        Change("auc", 0.9, 0.8),
        Change("loss", None, 0.3),
    ]
    assert Change("loss", None, 0.3).describe() == "loss: added (0.3)"

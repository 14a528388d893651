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


def test_metric_changes_list_the_headline_first_then_the_rest_by_name():
    before = {"mean_label": 3.0, "root_mean_squared_error": 2.0, "example_count": 9.0}
    after = {"mean_label": 3.5, "root_mean_squared_error": 1.5, "example_count": 9.0, "mae": 1.0}
    changes = metric_changes(before, after, first=["root_mean_squared_error", "example_count", "absent"])
    assert [c.name for c in changes] == ["root_mean_squared_error", "example_count", "mae", "mean_label"]


def test_run_metrics_compare_a_class_with_itself_when_models_order_classes_differently():
    from ml_lifecycle.base.contracts import Task
    from ml_lifecycle.base.model_description import ModelDescription
    from ml_lifecycle.metadata.diff import run_metrics
    from ml_lifecycle.metadata.runs import MetricComparison, RunReport

    def report(classes, recalls):
        metrics = [MetricComparison(f"recall[class {i}]", value) for i, value in enumerate(recalls)]
        metrics.append(MetricComparison("recall[macro]", sum(recalls) / len(recalls)))
        description = ModelDescription(Task.MULTICLASS, "species", classes)
        return RunReport("r", [], metrics=metrics, model_description=description)

    before = run_metrics(report(("Adelie", "Gentoo"), [0.9, 0.5]))
    after = run_metrics(report(("Gentoo", "Adelie"), [0.6, 0.8]))
    changes = {c.name: c for c in metric_changes(before, after)}
    assert changes["recall[Adelie]"] == Change("recall[Adelie]", 0.9, 0.8)
    assert changes["recall[Gentoo]"] == Change("recall[Gentoo]", 0.5, 0.6)
    assert "recall[macro]" in changes  # an average is no class: left as it is

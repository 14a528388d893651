"""Schema curation rules on a hand-built inferred schema, and what they mean for TFDV validation."""

from __future__ import annotations

import pandas as pd
import pytest
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from ml_lifecycle.base.contracts import SchemaEnvironment, Task
from ml_lifecycle.base.errors import DataError
from ml_lifecycle.datasets.schema import curate_schema, infer_classes
from ml_lifecycle.datasets.schema_file import label_classes

# What tfdv.infer_schema(infer_feature_shape=False) returns for a tiny span: every feature has a
# value_count of 1..1; `lat` had empty cells (presence without min_fraction), `payment` was
# present in half the rows, `lat` happened to hold whole numbers only (so it came out INT), `hour`
# is a plain INT and the label a bool-looking INT.
INFERRED = """
feature {
  name: "fare"
  type: FLOAT
  value_count { min: 1 max: 1 }
  presence { min_fraction: 1.0 min_count: 1 }
}
feature {
  name: "lat"
  type: INT
  value_count { min: 1 max: 1 }
  presence { min_count: 1 }
}
feature {
  name: "hour"
  type: INT
  value_count { min: 1 max: 1 }
  presence { min_fraction: 1.0 min_count: 1 }
}
feature {
  name: "payment"
  type: BYTES
  domain: "payment"
  value_count { min: 1 max: 1 }
  presence { min_fraction: 0.5 min_count: 1 }
}
feature {
  name: "big_tipper"
  type: INT
  bool_domain { }
  value_count { min: 1 max: 1 }
  presence { min_fraction: 1.0 min_count: 1 }
}
feature {
  name: "trip_id"
  type: BYTES
  presence { min_fraction: 0.2 }
}
string_domain { name: "payment" value: "Cash" value: "Credit Card" }
"""


@pytest.fixture
def inferred():
    return text_format.Parse(INFERRED, schema_pb2.Schema())


@pytest.fixture
def curated(inferred, tiny_dataset_config):
    return curate_schema(inferred, tiny_dataset_config())


def _feature(schema, name):
    return next(f for f in schema.feature if f.name == name)


def test_environments_are_training_and_serving(curated):
    assert list(curated.default_environment) == [SchemaEnvironment.TRAINING, SchemaEnvironment.SERVING]


def test_existing_environments_are_replaced_not_extended(inferred, tiny_dataset_config):
    inferred.default_environment.extend(["TRAINING", "LEGACY"])

    schema = curate_schema(inferred, tiny_dataset_config())

    assert list(schema.default_environment) == [SchemaEnvironment.TRAINING, SchemaEnvironment.SERVING]


def test_label_is_absent_in_serving_with_a_0_1_int_domain(curated):
    label = _feature(curated, "big_tipper")

    assert list(label.not_in_environment) == [SchemaEnvironment.SERVING]
    assert label.type == schema_pb2.INT
    assert label.WhichOneof("domain_info") == "int_domain"  # the inferred bool_domain is gone
    assert (label.int_domain.min, label.int_domain.max) == (0, 1)
    assert label.presence.min_fraction == 1.0


def test_only_the_label_leaves_serving(curated):
    in_serving = [f.name for f in curated.feature if SchemaEnvironment.SERVING not in f.not_in_environment]

    assert in_serving == ["fare", "lat", "hour", "payment", "trip_id"]


def test_categorical_ints_are_marked_categorical(curated):
    hour = _feature(curated, "hour")

    assert hour.type == schema_pb2.INT
    assert hour.int_domain.is_categorical is True
    assert not _feature(curated, "fare").int_domain.is_categorical


def test_numeric_and_bucketized_features_are_float(curated):
    # lat was inferred as INT from a whole-number span; the config says it is a number.
    assert _feature(curated, "lat").type == schema_pb2.FLOAT
    assert _feature(curated, "fare").type == schema_pb2.FLOAT


def test_string_features_get_min_domain_mass(inferred, tiny_dataset_config):
    default = curate_schema(inferred, tiny_dataset_config())
    custom = curate_schema(inferred, tiny_dataset_config(), min_domain_mass=0.9)

    assert _feature(default, "payment").distribution_constraints.min_domain_mass == pytest.approx(0.99)
    assert _feature(custom, "payment").distribution_constraints.min_domain_mass == pytest.approx(0.9)
    assert not _feature(default, "hour").HasField("distribution_constraints")
    assert _feature(default, "payment").domain == "payment"


def test_value_count_min_relaxed_only_where_presence_is_partial(curated):
    assert _feature(curated, "lat").value_count.min == 0  # no min_fraction: 0 < 1
    assert _feature(curated, "payment").value_count.min == 0  # min_fraction 0.5
    assert _feature(curated, "fare").value_count.min == 1  # always present
    assert _feature(curated, "hour").value_count.min == 1
    assert _feature(curated, "big_tipper").value_count.min == 1
    assert _feature(curated, "lat").value_count.max == 1
    # No value_count to relax: none is added.
    assert not _feature(curated, "trip_id").HasField("value_count")


def test_curation_does_not_modify_the_inferred_schema(inferred, tiny_dataset_config):
    before = inferred.SerializeToString()

    curate_schema(inferred, tiny_dataset_config())

    assert inferred.SerializeToString() == before


@pytest.mark.parametrize("column", ["payment", "big_tipper"])
def test_missing_configured_column_raises_naming_it(inferred, tiny_dataset_config, column):
    kept = [f for f in inferred.feature if f.name != column]
    del inferred.feature[:]
    inferred.feature.extend(kept)

    with pytest.raises(ValueError, match=rf"statistics have no feature\(s\) \['{column}'\]"):
        curate_schema(inferred, tiny_dataset_config())


# --- the curated schema in TFDV ---------------------------------------------------------------


@pytest.fixture(scope="module")
def tfdv():
    import tensorflow_data_validation

    return tensorflow_data_validation


@pytest.fixture
def frame():
    return pd.DataFrame(
        {
            "fare": [10.0, 12.5, 300.0, 7.0, 4.0],
            "lat": [41.9, 42.0, 41.8, 41.7, 41.95],
            "hour": [5, 7, 23, 0, 5],
            "payment": ["Cash", "Credit Card", "Cash", "Cash", "Credit Card"],
            "big_tipper": [1, 0, 1, 0, 0],
        }
    )


@pytest.fixture
def schema_from_frame(tfdv, frame, tiny_dataset_config):
    statistics = tfdv.generate_statistics_from_dataframe(frame)
    inferred = tfdv.infer_schema(statistics, infer_feature_shape=False)
    return curate_schema(inferred, tiny_dataset_config())


def test_serving_statistics_without_the_label_validate_cleanly(tfdv, frame, schema_from_frame):
    serving = tfdv.generate_statistics_from_dataframe(frame.drop(columns=["big_tipper"]))

    anomalies = tfdv.validate_statistics(serving, schema_from_frame, environment=SchemaEnvironment.SERVING)

    assert dict(anomalies.anomaly_info) == {}


def test_training_statistics_without_the_label_are_flagged(tfdv, frame, schema_from_frame):
    # The counterpart: in TRAINING (and with no environment, as ExampleValidator runs) the
    # label must be there.
    without_label = tfdv.generate_statistics_from_dataframe(frame.drop(columns=["big_tipper"]))

    for environment in (SchemaEnvironment.TRAINING, None):
        anomalies = tfdv.validate_statistics(without_label, schema_from_frame, environment=environment)
        assert list(anomalies.anomaly_info) == ["big_tipper"]


def test_training_statistics_with_the_label_validate_cleanly(tfdv, frame, schema_from_frame):
    statistics = tfdv.generate_statistics_from_dataframe(frame)

    anomalies = tfdv.validate_statistics(
        statistics, schema_from_frame, environment=SchemaEnvironment.TRAINING
    )

    assert dict(anomalies.anomaly_info) == {}


def test_label_outside_0_1_is_flagged(tfdv, frame, schema_from_frame):
    statistics = tfdv.generate_statistics_from_dataframe(frame.assign(big_tipper=[0, 1, 2, 0, 1]))

    anomalies = tfdv.validate_statistics(
        statistics, schema_from_frame, environment=SchemaEnvironment.TRAINING
    )

    assert list(anomalies.anomaly_info) == ["big_tipper"]


# --- the label by task ------------------------------------------------------------------------


def _with_task(tiny_dataset_config, task, classes=None):
    config = tiny_dataset_config()
    label = config.label.model_copy(update={"task": Task(task), "classes": classes or [], "expression": ""})
    return config.model_copy(update={"label": label})


def test_a_regression_label_is_a_float_without_a_domain(inferred, tiny_dataset_config):
    schema = curate_schema(inferred, _with_task(tiny_dataset_config, "regression"))
    label = _feature(schema, "big_tipper")

    assert label.type == schema_pb2.FLOAT
    assert label.WhichOneof("domain_info") is None
    assert list(label.not_in_environment) == [SchemaEnvironment.SERVING]


def test_string_classes_become_the_labels_domain(inferred, tiny_dataset_config):
    config = _with_task(tiny_dataset_config, "multiclass")

    schema = curate_schema(inferred, config, classes=["Adelie", "Gentoo"])
    label = _feature(schema, "big_tipper")

    assert label.type == schema_pb2.BYTES
    assert label.domain == "big_tipper"
    assert label_classes(schema, "big_tipper") == ("Adelie", "Gentoo")


def test_integer_classes_set_the_range_and_are_recorded(inferred, tiny_dataset_config):
    schema = curate_schema(inferred, _with_task(tiny_dataset_config, "multiclass"), classes=["1", "4", "9"])
    label = _feature(schema, "big_tipper")

    assert label.type == schema_pb2.INT
    assert (label.int_domain.min, label.int_domain.max, label.int_domain.is_categorical) == (1, 9, True)
    assert label_classes(schema, "big_tipper") == ("1", "4", "9")


def test_the_configs_classes_win_over_the_inferred_ones(inferred, tiny_dataset_config):
    config = _with_task(tiny_dataset_config, "multiclass", classes=["b", "a", "c"])

    schema = curate_schema(inferred, config, classes=["a", "b"])

    assert label_classes(schema, "big_tipper") == ("b", "a", "c")


def test_a_multiclass_label_without_classes_is_refused(inferred, tiny_dataset_config):
    with pytest.raises(DataError, match="label 'big_tipper': no classes to record"):
        curate_schema(inferred, _with_task(tiny_dataset_config, "multiclass"))


@pytest.mark.parametrize(
    ("values", "classes"),
    [(["3", "10", "2", "3"], ["2", "3", "10"]), (["b", "a", "10"], ["10", "a", "b"])],
)
def test_inferred_classes_sort_integers_numerically_and_text_as_text(values, classes):
    assert infer_classes(values) == classes


def test_an_unseen_string_class_is_an_anomaly(tfdv, tiny_dataset_config):
    frame = pd.DataFrame({"fare": [1.0, 2.0, 3.0], "species": ["a", "b", "a"]})
    schema = curate_schema(
        tfdv.infer_schema(tfdv.generate_statistics_from_dataframe(frame)),
        _renamed_label(tiny_dataset_config, "species"),
        classes=["a", "b"],
    )
    unseen = tfdv.generate_statistics_from_dataframe(frame.assign(species=["a", "c", "b"]))

    anomalies = tfdv.validate_statistics(unseen, schema, environment=SchemaEnvironment.TRAINING)

    assert list(anomalies.anomaly_info) == ["species"]


def _renamed_label(tiny_dataset_config, name):
    config = tiny_dataset_config(features={"numeric": ["fare"]}, evaluation={"slice_features": []})
    label = config.label.model_copy(update={"name": name, "task": Task.MULTICLASS, "expression": ""})
    return config.model_copy(update={"label": label})

"""The dataset config (ml_lifecycle.config.dataset): loading, path resolution, and errors that
name file and field."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from ml_lifecycle.base.errors import ConfigError
from ml_lifecycle.config.dataset import DatasetConfig, load_dataset_config

REPO_ROOT = Path(__file__).resolve().parents[3]
TAXI_CSV = "pkg://tfx/examples/chicago_taxi_pipeline/data/simple/data.csv"

# --- loading a dataset YAML -------------------------------------------------------------------


def test_load_dataset_config_reads_every_section(tiny_dataset_yaml):
    path = tiny_dataset_yaml()

    config = load_dataset_config(path)

    assert isinstance(config, DatasetConfig)
    assert config.name == "tiny"
    assert config.label.name == "big_tipper"
    assert config.label.expression == "tips > 0.2 * fare"
    assert config.label.drop_source_columns == ["tips"]
    assert config.features.numeric == ["fare"]
    assert config.features.categorical_string == ["payment"]
    assert config.features.bucket_count == 10  # a default
    assert config.spans.period == "quarter"
    assert config.spans.origin == "2013-01-01"
    assert config.evaluation.slice_features == ["hour"]
    assert config.schema_path is None
    assert config.resolve_schema() is None
    # base_dir defaults to the YAML's directory.
    assert Path(config.base_dir) == path.parent.resolve()


def test_span_columns_are_the_features_in_type_order_then_the_label(tiny_dataset_config):
    config = tiny_dataset_config()

    assert config.span_columns == ["fare", "lat", "hour", "payment", "big_tipper"]
    assert config.features.all_names() == ["fare", "lat", "hour", "payment"]


def test_relative_source_and_schema_resolve_against_the_yaml_directory(
    tmp_path, tiny_dataset_yaml, monkeypatch
):
    path = tiny_dataset_yaml(source_csv="raw/source.csv", schema="../schemas/tiny.pbtxt")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the current directory must not matter

    config = load_dataset_config(path)

    assert config.resolve_source() == (tmp_path / "raw" / "source.csv").resolve()
    assert config.resolve_schema() == (tmp_path.parent / "schemas" / "tiny.pbtxt").resolve()


def test_pkg_source_resolves_inside_the_installed_package(tiny_dataset_config):
    config = tiny_dataset_config(source_csv=TAXI_CSV)

    source = config.resolve_source()

    assert source.is_file()
    assert source.parts[-6:] == ("tfx", "examples", "chicago_taxi_pipeline", "data", "simple", "data.csv")


def test_pkg_source_of_a_missing_package_raises_naming_the_package(tiny_dataset_config):
    config = tiny_dataset_config(source_csv="pkg://no_such_package_xyz/data.csv")

    with pytest.raises(ConfigError, match="package 'no_such_package_xyz' not found"):
        config.resolve_source()


def test_repo_taxi_dataset_config_loads_and_its_files_exist():
    config = load_dataset_config(REPO_ROOT / "datasets" / "taxi.yaml")

    assert config.name == "taxi"
    assert config.label.name == "big_tipper"
    assert config.resolve_source().is_file()
    assert config.resolve_schema() == (REPO_ROOT / "schemas" / "taxi" / "schema.pbtxt").resolve()
    assert config.resolve_schema().is_file()


# --- ConfigError messages ---------------------------------------------------------------------


def test_missing_file_names_the_file(tmp_path, error_in):
    path = tmp_path / "nope.yaml"

    with pytest.raises(ConfigError, match=error_in(path, "config file not found")):
        load_dataset_config(path)


def test_bad_yaml_names_the_file(tmp_path, error_in):
    path = tmp_path / "bad.yaml"
    path.write_text("name: tiny\nfeatures: [fare, lat\n")

    with pytest.raises(ConfigError, match=error_in(path, "not valid YAML")):
        load_dataset_config(path)


def test_yaml_that_is_not_a_mapping_names_the_file(tmp_path, error_in):
    path = tmp_path / "list.yaml"
    path.write_text("- name\n- tiny\n")

    with pytest.raises(ConfigError, match=error_in(path, "expected a mapping at the top level")):
        load_dataset_config(path)


def test_unknown_top_level_key_names_file_and_key(tiny_dataset_yaml, error_in):
    path = tiny_dataset_yaml(colour="red")

    with pytest.raises(ConfigError, match=error_in(path, "colour: Extra inputs are not permitted")):
        load_dataset_config(path)


def test_unknown_nested_key_names_the_dotted_field(tiny_dataset_yaml, tiny_dataset_dict, error_in):
    features = dict(tiny_dataset_dict["features"], numerc=["trip_miles"])
    path = tiny_dataset_yaml(features=features)

    with pytest.raises(ConfigError, match=error_in(path, r"features\.numerc: Extra inputs")):
        load_dataset_config(path)


def test_missing_required_section_names_the_field(tmp_path, tiny_dataset_dict, write_yaml, error_in):
    del tiny_dataset_dict["spans"]
    path = write_yaml(tmp_path / "nospans.yaml", tiny_dataset_dict)

    with pytest.raises(ConfigError, match=error_in(path, "spans: Field required")):
        load_dataset_config(path)


@pytest.mark.parametrize(
    "features",
    [
        {"numeric": ["fare", "fare"]},  # twice under one type
        {"numeric": ["fare"], "bucketized": ["fare"]},  # under two types
    ],
)
def test_feature_listed_twice_names_the_feature(tiny_dataset_yaml, features, error_in):
    path = tiny_dataset_yaml(features=features, evaluation={})

    with pytest.raises(ConfigError, match=error_in(path, r"features: .*more than one type: \['fare'\]")):
        load_dataset_config(path)


def test_no_features_is_rejected(tiny_dataset_yaml, error_in):
    path = tiny_dataset_yaml(features={}, evaluation={})

    with pytest.raises(ConfigError, match=error_in(path, "features: .*no features configured")):
        load_dataset_config(path)


def test_label_listed_as_a_feature_names_the_label(tiny_dataset_yaml, tiny_dataset_dict, error_in):
    features = dict(tiny_dataset_dict["features"], numeric=["fare", "big_tipper"])
    path = tiny_dataset_yaml(features=features)

    with pytest.raises(ConfigError, match=error_in(path, "label 'big_tipper' is also listed as a feature")):
        load_dataset_config(path)


def test_a_label_source_column_listed_as_a_feature_is_rejected(tiny_dataset_dict, write_yaml, tmp_path):
    from ml_lifecycle.base.errors import ConfigError
    from ml_lifecycle.config.dataset import load_dataset_config

    tiny_dataset_dict["features"]["numeric"].append("tips")
    path = write_yaml(tmp_path / "leaky.yaml", tiny_dataset_dict)

    with pytest.raises(ConfigError, match=r"leaky\.yaml: .*\['tips'\] are also features"):
        load_dataset_config(path)


def test_slice_feature_not_among_features_names_it(tiny_dataset_yaml, error_in):
    path = tiny_dataset_yaml(evaluation={"slice_features": ["hour", "company"]})

    with pytest.raises(
        ConfigError,
        match=error_in(path, r"evaluation\.slice_features not among the features: \['company'\]"),
    ):
        load_dataset_config(path)


def test_invalid_span_period_names_the_field(tiny_dataset_yaml, tiny_dataset_dict, error_in):
    spans = dict(tiny_dataset_dict["spans"], period="week")
    path = tiny_dataset_yaml(spans=spans)

    with pytest.raises(ConfigError, match=error_in(path, r"spans\.period: ")):
        load_dataset_config(path)


@pytest.mark.parametrize("name", ["tiny taxi", "../taxi", ""])
def test_unsafe_dataset_name_is_rejected(tiny_dataset_yaml, name, error_in):
    path = tiny_dataset_yaml(name=name)

    with pytest.raises(ConfigError, match=error_in(path, "name: .*letters, digits")):
        load_dataset_config(path)


def test_dataset_config_is_frozen(tiny_dataset_config):
    config = tiny_dataset_config()

    with pytest.raises(ValidationError):
        config.name = "other"


# --- values checked at load: drift thresholds, span origin ------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "detail"),
    [
        ("categorical_l_infinity", 0.0, r"must be in \(0, 1\]"),
        ("numeric_jensen_shannon", 1.5, r"must be in \(0, 1\]"),
        ("numeric_jensen_shannon", float("nan"), r"must be in \(0, 1\]"),
        ("min_examples_fraction", -0.1, "must be a finite fraction >= 0"),
        ("max_examples_fraction", float("inf"), "must be a finite fraction >= 0"),
    ],
)
def test_drift_threshold_out_of_range_names_the_field(tiny_dataset_yaml, error_in, field, value, detail):
    path = tiny_dataset_yaml(drift={field: value})

    with pytest.raises(ConfigError, match=error_in(path, rf"drift\.{field}: .*{detail}")):
        load_dataset_config(path)


def test_examples_fraction_band_upside_down_names_both_fields(tiny_dataset_yaml, error_in):
    path = tiny_dataset_yaml(drift={"min_examples_fraction": 3.0, "max_examples_fraction": 2.0})

    with pytest.raises(
        ConfigError,
        match=error_in(path, r"drift: .*min_examples_fraction 3\.0 must be below max_examples_fraction 2\.0"),
    ):
        load_dataset_config(path)


def test_drift_thresholds_in_range_load(tiny_dataset_config):
    drift = tiny_dataset_config(drift={"categorical_l_infinity": 1.0, "min_examples_fraction": 0.0}).drift

    assert (drift.categorical_l_infinity, drift.min_examples_fraction) == (1.0, 0.0)


@pytest.mark.parametrize("origin", ["the first quarter", "1000-01-01", ""])
def test_unparsable_spans_origin_names_the_field(tiny_dataset_yaml, tiny_dataset_dict, error_in, origin):
    path = tiny_dataset_yaml(spans=dict(tiny_dataset_dict["spans"], origin=origin))

    with pytest.raises(
        ConfigError,
        match=error_in(path, rf"spans\.origin: .*expected a date such as '2013-01-01', got '{origin}'"),
    ):
        load_dataset_config(path)


def test_spans_origin_keeps_the_text_pandas_parses(tiny_dataset_config, tiny_dataset_dict):
    config = tiny_dataset_config(spans=dict(tiny_dataset_dict["spans"], origin="2013-01"))

    assert config.spans.origin == "2013-01"


# --- sources, na_values, spans.time_format, label.task ----------------------------------------


@pytest.mark.parametrize(
    ("sources", "count"),
    [({"source_csv": None}, 0), ({"source_parquet": "raw/"}, 2)],
)
def test_exactly_one_source_is_required(tiny_dataset_yaml, error_in, sources, count):
    path = tiny_dataset_yaml(**sources)

    with pytest.raises(
        ConfigError,
        match=error_in(path, rf"give exactly one of source_csv .* and source_parquet .*got {count}"),
    ):
        load_dataset_config(path)


def test_parquet_source_resolves_and_is_named_by_its_key(tmp_path, tiny_dataset_dict, write_yaml):
    del tiny_dataset_dict["source_csv"]
    tiny_dataset_dict["source_parquet"] = "raw/trips"
    config = load_dataset_config(write_yaml(tmp_path / "tiny.yaml", tiny_dataset_dict))

    assert (config.source_key, config.source) == ("source_parquet", "raw/trips")
    assert config.resolve_source() == (tmp_path / "raw" / "trips").resolve()


def test_csv_glob_resolves_to_a_pattern(tiny_dataset_config, tmp_path):
    config = tiny_dataset_config(source_csv="raw/*.csv")

    assert config.source_key == "source_csv"
    assert config.resolve_source() == tmp_path.resolve() / "raw" / "*.csv"


def test_na_values_default_and_replacement(tiny_dataset_config):
    assert "NA" in tiny_dataset_config().na_values
    assert tiny_dataset_config(na_values=["?", "-"]).na_values == ["?", "-"]


def test_na_values_given_as_numbers_read_as_their_text(tiny_dataset_config):
    config = tiny_dataset_config(na_values=[-999, -999.0, 0, "?"])

    assert config.na_values == ["-999", "-999.0", "0", "?"]


def test_na_values_given_as_booleans_are_refused(tiny_dataset_yaml, error_in):
    # YAML's `yes`/`true` are booleans: as text they would match no cell a user meant.
    path = tiny_dataset_yaml(na_values=["?", True])

    with pytest.raises(ConfigError, match=error_in(path, r"na_values\.1: ")):
        load_dataset_config(path)


@pytest.mark.parametrize(
    ("spans", "expected"),
    [
        ({"time_unit": "ms"}, "epoch_ms"),  # the older spelling
        ({"time_unit": "s"}, "epoch_s"),
        ({"time_format": "iso"}, "iso"),
        ({"time_format": "%d/%m/%Y %H:%M"}, "%d/%m/%Y %H:%M"),
        ({}, "auto"),
    ],
)
def test_time_format_and_its_time_unit_alias(tiny_dataset_config, spans, expected):
    config = tiny_dataset_config(spans={"time_column": "ts", "origin": "2013-01-01", **spans})

    assert config.spans.time_format == expected


@pytest.mark.parametrize(
    ("spans", "detail"),
    [
        ({"time_format": "epoch"}, r"spans\.time_format: .*expected one of \['auto', 'epoch_s', "),
        ({"time_unit": "minutes"}, r"spans: .*spans\.time_unit must be 's' or 'ms', not 'minutes'"),
        ({"time_unit": "s", "time_format": "iso"}, r"spans: .*give spans\.time_format only"),
    ],
)
def test_bad_time_format_names_the_field(tiny_dataset_yaml, error_in, spans, detail):
    path = tiny_dataset_yaml(spans={"time_column": "ts", "origin": "2013-01-01", **spans})

    with pytest.raises(ConfigError, match=error_in(path, detail)):
        load_dataset_config(path)


def test_label_task_defaults_to_binary_and_classes_read_as_text(tiny_dataset_config):
    from ml_lifecycle.base.contracts import Task

    assert tiny_dataset_config().label.task is Task.BINARY
    label = tiny_dataset_config(
        label={"name": "grade", "task": "multiclass", "classes": [1, 2, "three"]}
    ).label

    assert (label.task, label.classes) == (Task.MULTICLASS, ["1", "2", "three"])


@pytest.mark.parametrize(
    ("label", "detail"),
    [
        ({"task": "regression", "classes": ["a", "b"]}, "label.classes applies to task 'multiclass' only"),
        ({"task": "binary", "classes": ["0", "1"]}, "label.classes applies to task 'multiclass' only"),
        ({"task": "multiclass", "classes": ["a", "b", "a"]}, r"label.classes lists \['a'\] more than once"),
        ({"task": "multiclass", "classes": ["a"]}, "label.classes needs at least two classes"),
        ({"task": "ranking"}, r"label\.task: "),
    ],
)
def test_bad_label_task_or_classes_names_the_field(tiny_dataset_yaml, error_in, label, detail):
    path = tiny_dataset_yaml(label={"name": "grade", **label})

    with pytest.raises(ConfigError, match=error_in(path, detail)):
        load_dataset_config(path)

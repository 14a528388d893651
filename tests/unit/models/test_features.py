"""FeatureSpec rebuilt from the JSON `custom_config` that Transform and Trainer receive."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ml_lifecycle.config.dataset import load_dataset_config
from ml_lifecycle.config.project import TrainingConfig
from ml_lifecycle.models.features import FeatureSpec, custom_config_for, transformed_name

REPO_ROOT = Path(__file__).resolve().parents[3]
FIXTURES = REPO_ROOT / "tests" / "fixtures"


@pytest.fixture(params=["tiny", "taxi", "bikes"])
def dataset(request, tiny_dataset_config):
    if request.param == "tiny":
        return tiny_dataset_config()
    if request.param == "taxi":
        return load_dataset_config(REPO_ROOT / "datasets" / "taxi.yaml")
    return load_dataset_config(FIXTURES / "bikes.yaml")


def test_from_custom_config_round_trips_through_json(dataset):
    # Values unlike TrainingConfig's defaults, so a default cannot pass for a value passed on.
    training = TrainingConfig(
        model_family="dnn", train_steps=7, batch_size=5, learning_rate=0.25, hidden_units=[8, 4]
    )
    custom_config = json.loads(json.dumps(custom_config_for(dataset, training)))  # as TFX passes it

    spec = FeatureSpec.from_custom_config(custom_config)

    features = dataset.features
    assert spec == FeatureSpec(
        label=dataset.label.name,
        numeric=features.numeric,
        bucketized=features.bucketized,
        categorical_int=features.categorical_int,
        categorical_string=features.categorical_string,
        bucket_count=features.bucket_count,
        vocab_size=features.vocab_size,
        oov_buckets=features.oov_buckets,
        int_hash_buckets=features.int_hash_buckets,
    )
    assert spec.raw_names() == features.all_names()
    # What the Trainer's run_fn reads from the JSON, and nothing lost on the way.
    passed = custom_config["training"]
    assert (passed["batch_size"], passed["learning_rate"], passed["hidden_units"]) == (5, 0.25, [8, 4])
    assert TrainingConfig.model_validate({**passed, "model_family": "dnn"}) == training


def test_custom_config_without_training_has_no_training_key(tiny_dataset_config):
    custom_config = custom_config_for(tiny_dataset_config())

    assert set(custom_config) == {"features", "label"}
    assert FeatureSpec.from_custom_config(custom_config).label == "big_tipper"


def test_non_default_feature_settings_survive_the_round_trip():
    bikes = load_dataset_config(FIXTURES / "bikes.yaml")

    spec = FeatureSpec.from_custom_config(custom_config_for(bikes))

    assert (spec.bucket_count, spec.vocab_size, spec.oov_buckets, spec.int_hash_buckets) == (4, 20, 2, 16)
    assert spec.label == "long_ride"


def test_transformed_name():
    assert transformed_name("fare") == "fare_xf"


def test_each_family_gets_only_its_own_training_settings(dataset):
    dnn = custom_config_for(dataset, TrainingConfig(model_family="dnn"))["training"]
    gbt = custom_config_for(dataset, TrainingConfig(model_family="gbt", gbt_num_trees=50))["training"]

    # A DNN's keys are those of the kit before model families: its cache key did not move.
    assert set(dnn) == {
        "train_steps",
        "eval_steps",
        "batch_size",
        "learning_rate",
        "hidden_units",
        "eval_buckets",
        "train_buckets",
    }
    assert (gbt["model_family"], gbt["gbt_num_trees"]) == ("gbt", 50)
    assert not {"learning_rate", "hidden_units"} & set(gbt)

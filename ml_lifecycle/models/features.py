"""Feature lists as the user code sees them, rebuilt from the `custom_config` TFX passes in.

Transform and Trainer run the user code by dotted path with a JSON `custom_config`; this keeps
the dataset's feature types in one place (the dataset YAML) instead of constants in code.
"""

from __future__ import annotations

from dataclasses import dataclass, field


def transformed_name(key: str) -> str:
    return f"{key}_xf"


@dataclass(frozen=True)
class FeatureSpec:
    label: str
    numeric: list[str] = field(default_factory=list)
    bucketized: list[str] = field(default_factory=list)
    categorical_int: list[str] = field(default_factory=list)
    categorical_string: list[str] = field(default_factory=list)
    bucket_count: int = 10
    vocab_size: int = 1000
    oov_buckets: int = 10
    int_hash_buckets: int = 100

    @classmethod
    def from_custom_config(cls, custom_config: dict) -> FeatureSpec:
        features = dict(custom_config["features"])
        return cls(label=custom_config["label"], **features)

    def raw_names(self) -> list[str]:
        return self.numeric + self.bucketized + self.categorical_int + self.categorical_string


def custom_config_for(dataset, training=None) -> dict:
    """The JSON-serialisable `custom_config` handed to Transform and Trainer."""
    config = {"features": dataset.features.model_dump(), "label": dataset.label.name}
    if training is not None:
        config["training"] = training.model_dump()
    return config

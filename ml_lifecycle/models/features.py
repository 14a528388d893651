"""Feature lists as the user code sees them, rebuilt from the `custom_config` TFX passes in.

Transform and Trainer run the user code by dotted path with a JSON `custom_config`; this keeps
the dataset's feature types, its task and its classes in one place (the dataset YAML and the
curated schema) instead of constants in code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ml_lifecycle.base.contracts import Task
from ml_lifecycle.base.names import internal_name


def transformed_name(key: str) -> str:
    """The transformed feature of a raw column: an identifier TF accepts as an op and input name
    (`Body Mass (g)` -> `Body_Mass_g_<hash>_xf`; plain names as before, `fare` -> `fare_xf`)."""
    return f"{internal_name(key)}_xf"


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
    task: Task = Task.BINARY
    # Multiclass: class values as text, in the order of the model's scores.
    classes: tuple[str, ...] = ()

    @classmethod
    def from_custom_config(cls, custom_config: dict) -> FeatureSpec:
        features = dict(custom_config["features"])
        return cls(
            label=custom_config["label"],
            task=Task(custom_config.get("task", Task.BINARY.value)),
            classes=tuple(custom_config.get("classes", ())),
            **features,
        )

    def raw_names(self) -> list[str]:
        return self.numeric + self.bucketized + self.categorical_int + self.categorical_string


# Training settings only one model family reads: left out of the other family's custom_config,
# which TFX's cache key includes (a gbt setting must not retrain a DNN, nor a DNN one a gbt).
GBT_ONLY = {"model_family", "gbt_num_trees", "gbt_max_depth"}
DNN_ONLY = {"learning_rate", "hidden_units"}


def custom_config_for(dataset, training=None, classes: tuple[str, ...] = ()) -> dict:
    """The JSON-serialisable `custom_config`: Transform's without `training` (no training setting
    changes the features), the Trainer's with the settings of its model family. A binary DNN's keys
    are those of the kit before task types, so its Trainer's cache key did not move."""
    config = {"features": dataset.features.model_dump(), "label": dataset.label.name}
    if dataset.label.task is not Task.BINARY:
        config["task"] = dataset.label.task.value
    if classes:
        config["classes"] = list(classes)
    if training is not None:
        other_family = DNN_ONLY if training.model_family == "gbt" else GBT_ONLY
        config["training"] = training.model_dump(exclude={"window_spans"} | other_family)
        if training.model_family == "gbt":
            config["training"]["model_family"] = "gbt"
    return config

"""What an exported model predicts and how its inputs are named, stored inside the SavedModel.

The Trainer writes `assets.extra/ml_lifecycle_model.json` beside the variables; the server reads it
when it loads a version (its routes, its classify labels, the names requests use), ModelCheck and
the concept check read the task from it. A model pushed before the file existed is a binary
classifier whose inputs are named as its columns.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ml_lifecycle.base.contracts import ArtifactFile, Task


@dataclass(frozen=True)
class ModelDescription:
    task: Task = Task.BINARY
    label: str = ""
    # Multiclass: the class values in the order of the model's scores (as text, e.g. "Adelie", "3").
    classes: tuple[str, ...] = ()
    # Raw column -> the raw signature's argument name (base.names.internal_name); only columns
    # whose names differ are listed.
    input_names: dict[str, str] = field(default_factory=dict)
    # dnn (Keras network) or gbt (TensorFlow Decision Forests: its custom ops must be loaded
    # before the SavedModel is, see `load_model_ops`).
    family: str = "dnn"

    def to_json(self) -> str:
        return json.dumps(
            {
                "task": self.task.value,
                "label": self.label,
                "classes": list(self.classes),
                "input_names": dict(sorted(self.input_names.items())),
                "family": self.family,
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> ModelDescription:
        data = json.loads(text)
        return cls(
            task=Task(data.get("task", Task.BINARY.value)),
            label=str(data.get("label", "")),
            classes=tuple(str(c) for c in data.get("classes", [])),
            input_names={str(k): str(v) for k, v in data.get("input_names", {}).items()},
            family=str(data.get("family", "dnn")),
        )

    def signature_input(self, column: str) -> str:
        """The raw signature's argument for a column."""
        return self.input_names.get(column, column)

    def column_of(self) -> dict[str, str]:
        """Signature argument -> column, for naming inputs the way requests do."""
        return {argument: column for column, argument in self.input_names.items()}


def read_model_description(
    model_dir: str | Path,
    exists: Callable[[str], bool] = os.path.exists,
    read_text: Callable[[str], str] = lambda path: Path(path).read_text(encoding="utf-8"),
) -> ModelDescription:
    """The description of an exported model; a model without one reads as binary (older pushes).
    Components pass TF's file functions (`tf.io.gfile.exists`, `io_utils.read_string_file`), since
    their model directories may be buckets; the server reads local directories."""
    path = os.path.join(str(model_dir), ArtifactFile.MODEL_DESCRIPTION)
    if not exists(path):
        return ModelDescription()
    return ModelDescription.from_json(read_text(path))


def load_model_ops(description: ModelDescription) -> None:
    """Registers the custom TF ops a model family needs before `tf.saved_model.load` (TensorFlow
    Decision Forests' inference ops for gbt); nothing for a Keras network."""
    if description.family == "gbt":
        quiet_tfdf()


def quiet_tfdf() -> None:
    """Imports TensorFlow Decision Forests (registering its ops) and silences the C++ log lines of
    its training library, which go straight to stderr between the run's progress lines. TF-DF
    turns them back on after each `fit`, so the trainer calls this again afterwards. The inference
    kernel keeps its own level: its "Loading model from path ..." lines still show (measured on
    `lifecycle run --span 4`: the training warnings gone, those left)."""
    from tensorflow_decision_forests.tensorflow import cc_logging

    cc_logging.set_yggdrasil_logging_level(0)

"""The model description inside a SavedModel: round trip, and what an older model reads as."""

from __future__ import annotations

import json

from ml_lifecycle.base.contracts import ArtifactFile, Task
from ml_lifecycle.base.model_description import ModelDescription, read_model_description


def test_a_description_round_trips_through_json():
    description = ModelDescription(
        task=Task.MULTICLASS,
        label="species",
        classes=("Adelie", "Chinstrap", "Gentoo"),
        input_names={"Body Mass (g)": "Body_Mass_g_abc123"},
    )

    assert ModelDescription.from_json(description.to_json()) == description
    assert json.loads(description.to_json())["task"] == "multiclass"


def test_a_model_without_a_description_reads_as_binary(tmp_path):
    description = read_model_description(tmp_path)

    assert description.task is Task.BINARY
    assert description.classes == ()
    assert description.signature_input("fare") == "fare"


def test_the_file_in_the_model_is_read(tmp_path):
    path = tmp_path / ArtifactFile.MODEL_DESCRIPTION
    path.parent.mkdir(parents=True)
    path.write_text(ModelDescription(task=Task.REGRESSION, label="price").to_json(), encoding="utf-8")

    assert read_model_description(tmp_path).task is Task.REGRESSION


def test_signature_inputs_map_both_ways():
    description = ModelDescription(input_names={"Body Mass (g)": "Body_Mass_g_abc123"})

    assert description.signature_input("Body Mass (g)") == "Body_Mass_g_abc123"
    assert description.signature_input("island") == "island"
    assert description.column_of() == {"Body_Mass_g_abc123": "Body Mass (g)"}

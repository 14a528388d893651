"""The model check's pure core: warmup requests built from real examples (their replay and output
checks are the model's warmup contract, tested in tests/unit/models/test_warmup.py)."""

from __future__ import annotations

import pytest
import tensorflow as tf

from ml_lifecycle.components.model_check import core
from ml_lifecycle.components.model_check.core import strip_features, warmup_requests
from ml_lifecycle.models.warmup import ModelCheckError


def _example(fare: float, label: int | None = None) -> bytes:
    feature = {"fare": tf.train.Feature(float_list=tf.train.FloatList(value=[fare]))}
    if label is not None:
        feature["big_tipper"] = tf.train.Feature(int64_list=tf.train.Int64List(value=[label]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _request_examples(log) -> list[bytes]:
    return list(tf.make_ndarray(log.predict_log.request.inputs["examples"]))


# --- strip_features ---------------------------------------------------------------------------


def test_strip_features_removes_the_label_and_keeps_the_rest():
    stripped = tf.train.Example.FromString(strip_features(_example(7.5, label=1), {"big_tipper"}))

    assert set(stripped.features.feature) == {"fare"}
    assert list(stripped.features.feature["fare"].float_list.value) == [7.5]


def test_strip_features_ignores_names_that_are_absent():
    serialized = _example(7.5)

    assert strip_features(serialized, {"big_tipper", "tips"}) == serialized


# --- warmup_requests --------------------------------------------------------------------------


def test_one_request_per_example_plus_one_batch():
    examples = [_example(1.0), _example(2.0), _example(3.0)]

    logs = warmup_requests(
        examples, model_name="taxi", signature_name="serving_default", input_key="examples"
    )

    assert len(logs) == 4
    assert [_request_examples(log) for log in logs] == [[examples[0]], [examples[1]], [examples[2]], examples]
    for log in logs:
        request = log.predict_log.request
        assert request.model_spec.name == "taxi"
        assert request.model_spec.signature_name == "serving_default"
        assert list(request.inputs) == ["examples"]
        assert request.inputs["examples"].dtype == tf.string.as_datatype_enum


def test_single_example_gives_a_single_and_a_batch_request():
    logs = warmup_requests([_example(1.0)], "m", "serving_default", "examples")

    assert [len(_request_examples(log)) for log in logs] == [1, 1]


def test_warmup_honours_max_warmup_records(monkeypatch):
    monkeypatch.setattr(core, "MAX_WARMUP_RECORDS", 3)
    examples = [_example(float(i)) for i in range(5)]

    logs = warmup_requests(examples, "m", "serving_default", "examples")

    assert len(logs) == 3  # TF Serving would ignore anything past the limit
    assert [len(_request_examples(log)) for log in logs] == [1, 1, 5]
    assert _request_examples(logs[1]) == [examples[1]]


def test_default_max_warmup_records_is_tf_servings_limit():
    assert core.MAX_WARMUP_RECORDS == 1000


def test_warmup_without_examples_raises():
    with pytest.raises(ModelCheckError, match="no examples"):
        warmup_requests([], "m", "serving_default", "examples")

"""The model check's pure core: warmup requests, output checks, and replay against a tiny SavedModel."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf
from ml_lifecycle.components.model_check import core
from ml_lifecycle.components.model_check.core import (
    CheckResult,
    ModelCheckError,
    check_outputs,
    replay,
    strip_features,
    warmup_requests,
)


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


# --- check_outputs ----------------------------------------------------------------------------


def test_check_outputs_accepts_one_finite_row_per_example():
    check_outputs({"outputs": np.array([[0.1], [0.9], [0.5]]), "classes": np.array([0, 1, 1])}, batch_size=3)


@pytest.mark.parametrize(
    "value",
    [np.zeros((2, 1)), np.zeros((4, 1)), np.zeros((1, 3)), np.float32(0.5)],
    ids=["too-few-rows", "too-many-rows", "batch-in-columns", "scalar"],
)
def test_check_outputs_rejects_wrong_row_counts(value):
    with pytest.raises(ModelCheckError, match=r"output 'outputs' has shape .*, expected 3 rows"):
        check_outputs({"outputs": value}, batch_size=3)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_check_outputs_rejects_non_finite_values(bad):
    value = np.array([[0.1], [bad], [0.5]], dtype=np.float32)

    with pytest.raises(ModelCheckError, match="output 'outputs' holds NaN or infinite values"):
        check_outputs({"outputs": value}, batch_size=3)


def test_check_outputs_rejects_no_outputs():
    with pytest.raises(ModelCheckError, match="no outputs"):
        check_outputs({}, batch_size=1)


# --- replay against a real (tiny) SavedModel signature ----------------------------------------


class _Scorer(tf.Module):
    """Parses serialized tf.Examples and scores `fare * scale`, like an exported serving signature."""

    def __init__(self, scale: float):
        super().__init__()
        self.scale = tf.Variable(scale, dtype=tf.float32)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(self, examples):
        parsed = tf.io.parse_example(examples, {"fare": tf.io.FixedLenFeature([1], tf.float32)})
        return {"outputs": parsed["fare"] * self.scale}


def _saved_signature(directory, scale: float):
    module = _Scorer(scale)
    tf.saved_model.save(module, str(directory), signatures={"serving_default": module.serve})
    return tf.saved_model.load(str(directory)).signatures["serving_default"]


@pytest.fixture(scope="module")
def signature(tmp_path_factory):
    return _saved_signature(tmp_path_factory.mktemp("scorer"), scale=0.5)


@pytest.fixture(scope="module")
def nan_signature(tmp_path_factory):
    return _saved_signature(tmp_path_factory.mktemp("nan_scorer"), scale=float("nan"))


def test_replay_sends_each_request_to_the_signature_under_its_input_key(signature):
    examples = [_example(1.0), _example(2.0)]
    logs = warmup_requests(examples, "taxi", "serving_default", "examples")
    sent = []

    def recording_signature(**inputs):
        sent.append({key: list(value.numpy()) for key, value in inputs.items()})
        return signature(**inputs)

    replay(recording_signature, logs)

    assert sent == [{"examples": [examples[0]]}, {"examples": [examples[1]]}, {"examples": examples}]


def test_replay_checks_every_answer_has_a_row_per_example():
    logs = warmup_requests([_example(1.0), _example(2.0)], "taxi", "serving_default", "examples")

    def one_row_signature(**inputs):
        return {"outputs": tf.constant([[0.5]])}

    with pytest.raises(ModelCheckError, match=r"output 'outputs' has shape \(1, 1\), expected 2 rows"):
        replay(one_row_signature, logs)


def test_replay_counts_requests_and_examples(signature, monkeypatch):
    examples = [strip_features(_example(float(i), label=i % 2), {"big_tipper"}) for i in range(3)]
    logs = warmup_requests(examples, "taxi", "serving_default", "examples")
    # A clock read before and after each call: the requests take 1, 4, 2 and 10 ms.
    ticks = iter([10.0, 10.001, 11.0, 11.004, 12.0, 12.002, 13.0, 13.010])
    replay_module = sys.modules[replay.__module__]
    monkeypatch.setattr(replay_module, "time", SimpleNamespace(perf_counter=lambda: next(ticks)))

    result = replay(signature, logs)

    assert isinstance(result, CheckResult)
    assert result.requests == 4
    assert result.examples == 3 + 3
    assert result.latencies_ms == pytest.approx([1.0, 4.0, 2.0, 10.0])
    assert result.p50_ms == pytest.approx(3.0)


def test_replay_raises_when_the_signature_returns_nan(nan_signature):
    logs = warmup_requests([_example(1.0), _example(2.0)], "taxi", "serving_default", "examples")

    with pytest.raises(ModelCheckError, match="output 'outputs' holds NaN"):
        replay(nan_signature, logs)


def test_replay_raises_when_the_model_rejects_a_request(signature):
    not_an_example = b"\xff\x00 definitely not a tf.Example"
    logs = warmup_requests([not_an_example], "taxi", "serving_default", "examples")

    with pytest.raises(ModelCheckError, match="the model rejected a warmup request"):
        replay(signature, logs)


def test_replay_raises_when_the_input_key_is_wrong(signature):
    logs = warmup_requests([_example(1.0)], "taxi", "serving_default", "inputs")

    with pytest.raises(ModelCheckError, match="the model rejected a warmup request"):
        replay(signature, logs)


def test_empty_check_result_has_zero_latency():
    assert CheckResult().p50_ms == 0.0

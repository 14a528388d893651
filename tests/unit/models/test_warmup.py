"""The exported model's warmup contract: output checks, and replay of warmup records against a
tiny SavedModel (ModelCheck and the model server both replay through it)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from ml_lifecycle.models import warmup
from ml_lifecycle.models.warmup import CheckResult, ModelCheckError, check_outputs, replay


def _example(fare: float) -> bytes:
    feature = {"fare": tf.train.Feature(float_list=tf.train.FloatList(value=[fare]))}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _logs(*batches: list[bytes], input_key: str = "examples") -> list[prediction_log_pb2.PredictionLog]:
    """One warmup record per batch of serialized examples, as ModelCheck stamps them."""
    requests = [
        predict_pb2.PredictRequest(inputs={input_key: tf.make_tensor_proto(batch, dtype=tf.string)})
        for batch in batches
    ]
    return [prediction_log_pb2.PredictionLog(predict_log={"request": r}) for r in requests]


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
    logs = _logs([examples[0]], [examples[1]], examples)
    sent = []

    def recording_signature(**inputs):
        sent.append({key: list(value.numpy()) for key, value in inputs.items()})
        return signature(**inputs)

    replay(recording_signature, logs)

    assert sent == [{"examples": [examples[0]]}, {"examples": [examples[1]]}, {"examples": examples}]


def test_replay_checks_every_answer_has_a_row_per_example():
    examples = [_example(1.0), _example(2.0)]
    logs = _logs([examples[0]], [examples[1]], examples)  # single rows pass, the batch does not

    def one_row_signature(**inputs):
        return {"outputs": tf.constant([[0.5]])}

    with pytest.raises(ModelCheckError, match=r"output 'outputs' has shape \(1, 1\), expected 2 rows"):
        replay(one_row_signature, logs)


def test_replay_counts_requests_and_examples(signature, monkeypatch):
    examples = [_example(float(i)) for i in range(3)]
    logs = _logs(*([e] for e in examples), examples)
    # A clock read before and after each call: the requests take 1, 4, 2 and 10 ms.
    ticks = iter([10.0, 10.001, 11.0, 11.004, 12.0, 12.002, 13.0, 13.010])
    monkeypatch.setattr(warmup, "time", SimpleNamespace(perf_counter=lambda: next(ticks)))

    result = replay(signature, logs)

    assert isinstance(result, CheckResult)
    assert result.requests == 4
    assert result.examples == 3 + 3
    assert result.latencies_ms == pytest.approx([1.0, 4.0, 2.0, 10.0])
    assert result.p50_ms == pytest.approx(3.0)


def test_replay_raises_when_the_signature_returns_nan(nan_signature):
    logs = _logs([_example(1.0)], [_example(2.0)])

    with pytest.raises(ModelCheckError, match="output 'outputs' holds NaN"):
        replay(nan_signature, logs)


def test_replay_raises_when_the_model_rejects_a_request(signature):
    not_an_example = b"\xff\x00 definitely not a tf.Example"
    logs = _logs([not_an_example])

    with pytest.raises(ModelCheckError, match="the model rejected a warmup request"):
        replay(signature, logs)


def test_replay_raises_when_the_input_key_is_wrong(signature):
    logs = _logs([_example(1.0)], input_key="inputs")

    with pytest.raises(ModelCheckError, match="the model rejected a warmup request"):
        replay(signature, logs)


def test_empty_check_result_has_zero_latency():
    assert CheckResult().p50_ms == 0.0

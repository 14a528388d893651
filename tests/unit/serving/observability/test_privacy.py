"""serving.privacy: the builder's refusals, and drop/hash/keep on rows, columns and serialized
tf.Examples, as the hooks apply them to prediction-log records and review rows."""

from __future__ import annotations

import hashlib
import hmac

import numpy as np
import pytest
from tensorflow.core.example import example_pb2

from ml_lifecycle.base.contracts import Task
from ml_lifecycle.base.errors import ConfigError
from ml_lifecycle.config.serving import ServingConfig
from ml_lifecycle.serving.inference.answers import ModelAnswer
from ml_lifecycle.serving.inference.codec import example_rows
from ml_lifecycle.serving.observability.hooks import Prediction, RequestHooks, logged_prediction
from ml_lifecycle.serving.observability.log_records import rows_from_prediction_logs, to_prediction_log
from ml_lifecycle.serving.observability.privacy import FeaturePrivacy, feature_privacy
from ml_lifecycle.serving.protocol.methods import Method
from ml_lifecycle.serving.protocol.requests import DecodedRequest
from tests.unit.serving.fakes import serialized_example

KEY = b"unit-test-hmac-key-0193"
POLICY = {"payment": "hash", "tips": "drop", "pickup": "hash"}
PRIVACY = FeaturePrivacy(POLICY, KEY)
KINDS = {"fare": "f", "payment": "O", "tips": "f", "pickup": "f"}


def _hmac(text: str) -> str:
    return hmac.new(KEY, text.encode(), hashlib.sha256).hexdigest()


# -- the builder ------------------------------------------------------------------------------


def test_no_policy_or_only_keep_builds_nothing():
    assert feature_privacy(ServingConfig(), {}) is None
    assert feature_privacy(ServingConfig(privacy={"fare": "keep"}), {}) is None


def test_a_dropped_feature_needs_no_key():
    privacy = feature_privacy(ServingConfig(privacy={"tips": "drop", "fare": "keep"}), {})
    assert privacy is not None and privacy.dropped == ["tips"] and privacy.hashed == []
    assert privacy.apply_row({"tips": 3.5, "fare": 1.0}) == {"fare": 1.0}


@pytest.mark.parametrize("environ, state", [({}, "unset"), ({"SHOP_KEY": ""}, "empty")])
def test_a_hashed_feature_without_its_key_refuses_to_start(environ, state):
    config = ServingConfig(
        privacy={"payment": "hash", "email": "hash", "tips": "drop"}, privacy_key_env="SHOP_KEY"
    )
    with pytest.raises(ConfigError) as raised:
        feature_privacy(config, environ)
    message = str(raised.value)
    assert "serving.privacy" in message and "['email', 'payment']" in message
    assert "SHOP_KEY" in message and state in message


def test_an_empty_key_variable_name_is_refused_by_name():
    config = ServingConfig(privacy={"payment": "hash"}, privacy_key_env="")
    with pytest.raises(ConfigError, match="serving.privacy_key_env is empty"):
        feature_privacy(config, {"": "x"})


def test_the_key_comes_from_the_environment_and_stays_out_of_the_repr():
    config = ServingConfig(privacy=POLICY, privacy_key_env="SHOP_KEY")
    privacy = feature_privacy(config, {"SHOP_KEY": KEY.decode()})
    assert privacy.hash_value("Cash") == _hmac("Cash")
    assert KEY.decode() not in repr(privacy) and KEY.decode() not in str(privacy)


def test_unknown_features_are_the_policy_names_a_model_does_not_take():
    assert PRIVACY.unknown_features(["fare", "payment", "tips"]) == ["pickup"]


# -- rows, columns, examples ------------------------------------------------------------------


def test_rows_drop_hash_and_keep():
    row = {"fare": 12.5, "payment": "Cash", "tips": 3.25, "pickup": None}
    assert PRIVACY.apply_row(row, KINDS) == {"fare": 12.5, "payment": _hmac("Cash"), "pickup": None}


def test_columns_drop_hash_and_keep():
    columns = {"fare": [1.0, 2.0], "payment": ["Cash", None], "tips": [0.5, 0.75], "pickup": [7, 41.9]}
    private = PRIVACY.apply_columns(columns, KINDS)
    assert private == {
        "fare": [1.0, 2.0],
        "payment": [_hmac("Cash"), None],
        # A float feature's JSON integer hashes as the float the model sees; floats as float32.
        "pickup": [_hmac("7.0"), _hmac("41.9")],
    }
    assert PRIVACY.column_kinds(KINDS) == {"fare": "f", "payment": "O", "pickup": "O"}


def _example(**features) -> bytes:
    return serialized_example(features)


def test_examples_are_rewritten_hashes_matching_the_json_forms():
    serialized = _example(fare=12.5, payment="Cash", tips=3.25, pickup=41.9, hour=7)
    (private,) = PRIVACY.apply_examples([serialized])
    assert b"Cash" not in private and np.float32(3.25).tobytes() not in private
    assert np.float32(41.9).tobytes() not in private
    (row,) = example_rows([private])
    assert row == {"fare": 12.5, "payment": _hmac("Cash"), "pickup": _hmac("41.9"), "hour": 7}
    # The same values sent as a JSON row hash to the same text (joins across request forms).
    json_row = PRIVACY.apply_row({"fare": 12.5, "payment": "Cash", "tips": 3.25, "pickup": 41.9}, KINDS)
    assert (json_row["payment"], json_row["pickup"]) == (row["payment"], row["pickup"])


def test_no_second_copy_of_a_value_survives_in_an_example():
    # Two serialized messages concatenated parse as one; the map key sent twice keeps its last.
    doubled = _example(payment="first-copy-secret") + _example(payment="Cash")
    with_unknown_field = _example(fare=1.0) + b"\x1a\x0dunknown-field"  # field 3, length-delimited
    private = PRIVACY.apply_examples([doubled, with_unknown_field, b"\xff\xff not a proto"])
    assert b"first-copy-secret" not in private[0]
    assert example_rows([private[0]]) == [{"payment": _hmac("Cash")}]
    assert b"unknown-field" not in private[1] and example_rows([private[1]]) == [{"fare": 1.0}]
    assert private[2] == b""


def test_multi_valued_and_missing_example_values():
    example = example_pb2.Example()
    example.features.feature["payment"].bytes_list.value.extend([b"Cash", b"", b"Card"])
    (private,) = PRIVACY.apply_examples([example.SerializeToString()])
    values = example_pb2.Example.FromString(private).features.feature["payment"].bytes_list.value
    assert list(values) == [_hmac("Cash").encode(), b"", _hmac("Card").encode()]
    assert PRIVACY.apply_row({"payment": ["Cash", None]}) == {"payment": [_hmac("Cash"), None]}


# -- the hooks --------------------------------------------------------------------------------

CLEAR = ("Cash", np.float32(3.25).tobytes(), np.float32(41.9).tobytes())


def _raw_request() -> DecodedRequest:
    values = {"fare": [12.5, 30.0], "payment": ["Cash", "Cash"], "tips": [3.25, 3.25], "pickup": [41.9, 41.9]}
    return DecodedRequest("serving_raw", {}, values, 2, row_format=True, kinds=KINDS)


def _answer() -> ModelAnswer:
    return ModelAnswer.of(Task.BINARY, [0.2, 0.7])


@pytest.mark.parametrize("method", [Method.PREDICT, Method.CLASSIFY])
def test_log_records_of_json_requests_carry_no_clear_value(method):
    record = logged_prediction(
        "taxi",
        1,
        _raw_request(),
        {"outputs": np.array([[0.2], [0.7]])},
        _answer(),
        method,
        "stable",
        1.0,
        PRIVACY,
    )
    serialized = to_prediction_log(record).SerializeToString()
    for clear in CLEAR:
        assert (clear.encode() if isinstance(clear, str) else clear) not in serialized
    rows = list(rows_from_prediction_logs([to_prediction_log(record)]))
    assert [row.get("tips") for row in rows] == [None, None]
    assert [row["payment"] for row in rows] == [_hmac("Cash")] * 2
    assert [row["pickup"] for row in rows] == [_hmac("41.9")] * 2
    assert [row["fare"] for row in rows] == [12.5, 30.0]


def test_log_records_of_example_requests_carry_no_clear_value():
    examples = [_example(fare=12.5, payment="Cash", tips=3.25, pickup=41.9)]
    request = DecodedRequest("serving_default", {}, {"examples": examples}, 1, True, examples)
    record = logged_prediction(
        "taxi", 1, request, {"outputs": np.array([[0.2]])}, None, Method.PREDICT, "stable", 1.0, PRIVACY
    )
    serialized = to_prediction_log(record).SerializeToString()
    assert b"Cash" not in serialized and np.float32(3.25).tobytes() not in serialized
    assert list(rows_from_prediction_logs([to_prediction_log(record)])) == [
        {"fare": 12.5, "payment": _hmac("Cash"), "pickup": _hmac("41.9")}
    ]
    # Without a policy the client's bytes are logged as they came.
    plain = logged_prediction(
        "taxi", 1, request, {"outputs": np.array([[0.2]])}, None, Method.PREDICT, "stable", 1.0
    )
    assert plain.inputs == {"examples": examples}


class _Services:
    """What the hooks read; a review queue that keeps what it is given."""

    def __init__(self, privacy):
        self.monitor = None
        self.prediction_log = None
        self.shadow = None
        self.monitor_rows_per_request = 8
        self.privacy = privacy
        self.review_queue = self
        self.added: list[dict] = []

    def add(self, model, version, features, score, deferred, task=None, top_class=None):
        self.added.append(features)
        return len(self.added)


def test_review_rows_are_queued_as_the_policy_lets_them_through():
    services = _Services(PRIVACY)
    prediction = Prediction(
        "taxi",
        1,
        "stable",
        None,
        _raw_request(),
        {},
        _answer(),
        {"flagged": [True, False], "deferred": [False, False]},
        Method.PREDICT,
    )
    RequestHooks(services).after_response("taxi", 1, "stable", 200, 0.01, prediction)
    assert services.added == [{"fare": 12.5, "payment": _hmac("Cash"), "pickup": _hmac("41.9")}]

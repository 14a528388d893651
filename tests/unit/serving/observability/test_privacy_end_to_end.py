"""The acceptance test of `serving.privacy`: after traffic in every request form through a
ServingApi with a real prediction log writer and review queue, a hashed or dropped feature's
clear value is in no file under the work directory, while its HMAC and a kept value are."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import struct
from pathlib import Path

import numpy as np
import pytest

from ml_lifecycle.config.serving import (
    HumanReviewConfig,
    PredictionLogConfig,
    ServingConfig,
    VersionPolicyConfig,
)
from ml_lifecycle.serving.http.api import ServedModel, ServingApi, ServingServices
from ml_lifecycle.serving.inference.codec import example_rows
from ml_lifecycle.serving.inference.repository import ModelRepository
from ml_lifecycle.serving.inference.signatures import InputSpec
from ml_lifecycle.serving.observability.log_records import rows_from_prediction_logs
from ml_lifecycle.serving.observability.prediction_log import PredictionLogWriter, read_prediction_logs
from ml_lifecycle.serving.observability.privacy import feature_privacy
from ml_lifecycle.serving.protocol.values import FeatureRules
from ml_lifecycle.serving.review import ReviewQueue
from ml_lifecycle.serving.router import RolloutAction, Router
from tests.unit.serving.fakes import SignaturesOnly, serialized_example

KEY_ENV = "E2E_PRIVACY_KEY"
KEY = "e2e-hmac-key-5f3a9c"
POLICY = {"payment": "hash", "pickup": "hash", "tips": "drop", "email": "drop"}
# Distinctive clear values: hashed (payment, pickup), dropped (tips, email), kept (company).
SECRET_TEXT = "clear-secret-7731"
SECRET_FLOAT = 123456.75  # exact in float32, so its bytes are what a tensor or tf.Example holds
DROPPED_FLOAT = 987654.25
DROPPED_TEXT = "dropped-secret-5519@example.com"
KEPT_TEXT = "kept-visible-4242"

RAW_INPUTS = {
    "fare": InputSpec("fare", np.dtype(np.float32)),
    "payment": InputSpec("payment", np.dtype(object)),
    "pickup": InputSpec("pickup", np.dtype(np.float32)),
    "tips": InputSpec("tips", np.dtype(np.float32)),
    "email": InputSpec("email", np.dtype(object)),
    "company": InputSpec("company", np.dtype(object)),
}
ROW = {
    "fare": 45.0,
    "payment": SECRET_TEXT,
    "pickup": SECRET_FLOAT,
    "tips": DROPPED_FLOAT,
    "email": DROPPED_TEXT,
    "company": KEPT_TEXT,
}


class FakeServable(SignaturesOnly):
    """Scores a row as fare / 100, through the raw signature or serialized tf.Examples."""

    def __init__(self, version: int) -> None:
        super().__init__(RAW_INPUTS, version)

    def run(self, signature, columns):
        if signature == "serving_default":
            fares = [row.get("fare") or 0.0 for row in example_rows(columns["examples"].tolist(), ["fare"])]
        else:
            fares = columns["fare"].tolist()
        return {"outputs": np.array([[min(1.0, fare / 100)] for fare in fares], dtype=np.float32)}


def _example_b64(row: dict) -> dict:
    return {"b64": base64.b64encode(serialized_example(row, ints_as_int64=False)).decode()}


def _hmac(text: str) -> bytes:
    return hmac.new(KEY.encode(), text.encode(), hashlib.sha256).hexdigest().encode()


def _float_forms(value: float) -> list[bytes]:
    """A float as text and as the bytes a float32 or float64 field holds (either byte order)."""
    return [
        repr(value).encode(),
        struct.pack("<f", value),
        struct.pack(">f", value),
        struct.pack("<d", value),
        struct.pack(">d", value),
    ]


@pytest.fixture
def server(tmp_path):
    models = tmp_path / "models" / "taxi"
    for version in (1, 2):
        (models / str(version)).mkdir(parents=True)
        (models / str(version) / "saved_model.pb").write_bytes(b"x")
    repository = ModelRepository(
        "taxi", models, VersionPolicyConfig(), loader=lambda n, v, p: FakeServable(v)
    )
    repository.poll(wait_for_stable_files=False)
    router = Router("taxi", None)
    router.load(repository.available())
    served = ServedModel(repository, router, FeatureRules(required=frozenset({"fare"})))

    config = ServingConfig(privacy={**POLICY, "company": "keep"}, privacy_key_env=KEY_ENV)
    writer = PredictionLogWriter(PredictionLogConfig(), tmp_path / "prediction_logs")
    queue = ReviewQueue(tmp_path / "review" / "queue.sqlite")
    services = ServingServices(
        prediction_log=writer,
        review_config=HumanReviewConfig(automation="assist"),  # every row is queued
        review_queue=queue,
        privacy=feature_privacy(config, {KEY_ENV: KEY}),
    )
    api = ServingApi({"taxi": served}, services)

    def shadow_now(job):
        """The shadow worker's work, in the request's thread."""
        servable = repository.servable(job.shadow_version)
        api.hooks.after_shadow(
            job, servable.run(job.request.signature, job.request.columns), servable.description, 1.0
        )

    services.shadow = shadow_now
    yield api, served, writer, queue
    writer.close()
    queue.close()


def _post(api, path: str, body: dict) -> dict:
    response = api.handle("POST", path, {}, json.dumps(body).encode())
    assert response.status == 200, response.body
    response.after()
    return json.loads(response.body)


def test_no_clear_value_of_a_hashed_or_dropped_feature_is_written_anywhere(tmp_path, server):
    api, served, writer, queue = server
    served.router.apply(RolloutAction("shadow", version=1), served.repository.available())
    row2 = {**ROW, "fare": 55.0}
    columns = {name: [ROW[name], None] for name in ROW}
    columns["fare"] = [45.0, 65.0]
    requests = [
        ("/v1/models/taxi:predict", {"instances": [ROW, row2]}),  # rows, shadowed too
        ("/v1/models/taxi/versions/1:predict", {"inputs": columns}),  # columns
        ("/v1/models/taxi/versions/1:predict", {"instances": [_example_b64(ROW)]}),  # b64 rows
        ("/v1/models/taxi:predict", {"inputs": {"examples": [_example_b64(row2)]}}),  # b64 columns
        # classify's feature objects, the secrets in the shared context
        (
            "/v1/models/taxi/versions/2:classify",
            {
                "context": {"payment": SECRET_TEXT, "tips": DROPPED_FLOAT},
                "examples": [
                    {"fare": 45.0, "company": KEPT_TEXT, "email": DROPPED_TEXT, "pickup": SECRET_FLOAT}
                ],
            },
        ),
    ]
    for path, body in requests:
        _post(api, path, body)
    writer.close()
    queue.close()

    logs = list(read_prediction_logs(tmp_path / "prediction_logs"))
    # 5 requests, 2 of them shadowed: every record is a valid PredictionLog of its kind.
    assert writer.stats()["written"] == 7 and writer.stats()["errors"] == 0
    assert sorted(log.WhichOneof("log_type") for log in logs) == ["classify_log"] + ["predict_log"] * 6
    rows = list(rows_from_prediction_logs(logs))
    assert len(rows) == 2 + 2 + 1 + 1 + 1
    assert {row.get("payment") for row in rows} == {_hmac(SECRET_TEXT).decode(), None}
    assert all("tips" not in row and "email" not in row for row in rows)
    assert len(queue.pending(100)) == 7

    files = [path for path in tmp_path.rglob("*") if path.is_file()]
    log_bytes = b"".join(p.read_bytes() for p in files if p.suffix == ".tfrecord")
    review_bytes = b"".join(p.read_bytes() for p in files if "review" in p.parts)
    assert log_bytes and review_bytes
    clear = [
        SECRET_TEXT.encode(),
        DROPPED_TEXT.encode(),
        KEY.encode(),
        *_float_forms(SECRET_FLOAT),
        *_float_forms(DROPPED_FLOAT),
    ]
    for path in files:
        content = path.read_bytes()
        found = [value for value in clear if value in content]
        assert not found, f"{path.relative_to(tmp_path)} holds {found}"
    # The search can fail: what is kept, and the hashes, are there to be found.
    for written in (log_bytes, review_bytes):
        assert KEPT_TEXT.encode() in written
        assert _hmac(SECRET_TEXT) in written and _hmac(repr(SECRET_FLOAT)) in written


def test_the_same_traffic_without_a_policy_writes_the_clear_values(tmp_path, server):
    """The control: with privacy off the walk finds the values, so the search above is real."""
    api, served, writer, queue = server
    api.services.privacy = None
    _post(api, "/v1/models/taxi/versions/1:predict", {"instances": [_example_b64(ROW)]})
    _post(api, "/v1/models/taxi/versions/1:predict", {"instances": [ROW]})
    writer.close()
    queue.close()
    content = b"".join(p.read_bytes() for p in Path(tmp_path).rglob("*") if p.is_file())
    for value in (
        SECRET_TEXT.encode(),
        DROPPED_TEXT.encode(),
        struct.pack("<f", DROPPED_FLOAT),
        b"987654.25",
    ):
        assert value in content

"""TF Serving's REST shapes and errors, without sockets: `ServingApi.handle` on fake model versions."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
import tensorflow as tf

from ml_lifecycle.config.serving import HumanReviewConfig, VersionPolicyConfig
from ml_lifecycle.serving.http.api import ServedModel, ServingApi, ServingServices
from ml_lifecycle.serving.inference.codec import example_rows
from ml_lifecycle.serving.inference.repository import ModelRepository
from ml_lifecycle.serving.inference.signatures import InputSpec
from ml_lifecycle.serving.protocol.values import FeatureRules
from ml_lifecycle.serving.router import Router
from tests.unit.serving.fakes import SignaturesOnly

RAW_INPUTS = {
    "fare": InputSpec("fare", np.dtype(np.float32)),
    "hour": InputSpec("hour", np.dtype(np.int64)),
    "payment": InputSpec("payment", np.dtype(object)),
}


class FakeServable(SignaturesOnly):
    """Scores a row as fare / 100 (+ an offset per version), through either signature."""

    def __init__(self, version: int, offset: float = 0.0) -> None:
        super().__init__(RAW_INPUTS, version)
        self.offset = offset
        self.calls: list[tuple[str, dict]] = []

    def run(self, signature, columns):
        self.calls.append((signature, columns))
        if signature == "serving_default":
            fares = [row.get("fare") or 0.0 for row in example_rows(columns["examples"].tolist(), ["fare"])]
        else:
            assert {k: v.dtype for k, v in columns.items()} == {k: s.dtype for k, s in RAW_INPUTS.items()}
            fares = columns["fare"].tolist()
        return {"outputs": np.array([[min(1.0, f / 100 + self.offset)] for f in fares], dtype=np.float32)}


def _loader(name, version, path):
    return FakeServable(version, offset=0.01 * (version - 1))


@pytest.fixture
def served(tmp_path):
    for version in (1, 2):
        (tmp_path / "taxi" / str(version)).mkdir(parents=True)
        (tmp_path / "taxi" / str(version) / "saved_model.pb").write_bytes(b"x")
    repository = ModelRepository("taxi", tmp_path / "taxi", VersionPolicyConfig(), loader=_loader)
    repository.poll(wait_for_stable_files=False)
    router = Router("taxi", None)
    router.load(repository.available())
    rules = FeatureRules(required=frozenset({"fare"}), ignored=frozenset({"big_tipper"}))
    return ServedModel(repository, router, rules, {"golden": 1})


class Recorder:
    """Stands in for the monitor, prediction log, review queue and shadow queue."""

    def __init__(self):
        self.calls: list[tuple] = []

    def __getattr__(self, name):
        def record(*args, **kwargs):
            self.calls.append((name, args, kwargs))
            return len(self.calls)

        return record

    def named(self, name):
        return [args for call, args, _ in self.calls if call == name]


def _api(served, **services):
    return ServingApi({"taxi": served}, ServingServices(**services))


def call(api, method, path, body=None, headers=None, run_after=True):
    raw = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else b"")
    response = api.handle(method, path, headers or {}, raw)
    if run_after and response.after is not None:
        response.after()
    return response.status, json.loads(response.body)


ROW = {"fare": 10.0, "hour": 7, "payment": "Cash"}


def _example(fare: float) -> str:
    example = tf.train.Example()
    example.features.feature["fare"].float_list.value.append(fare)
    return base64.b64encode(example.SerializeToString()).decode()


def test_model_status_lists_versions_in_tf_serving_shape(served):
    status, body = call(_api(served), "GET", "/v1/models/taxi")
    assert status == 200
    assert body["model_version_status"][0] == {
        "version": "2",
        "state": "AVAILABLE",
        "status": {"error_code": "OK", "error_message": ""},
    }
    assert [s["version"] for s in body["model_version_status"]] == ["2", "1"]
    status, body = call(_api(served), "GET", "/v1/models/taxi/labels/golden")
    assert [s["version"] for s in body["model_version_status"]] == ["1"]


def test_metadata_names_the_version_and_its_signatures(served):
    status, body = call(_api(served), "GET", "/v1/models/taxi/versions/1/metadata")
    assert status == 200
    assert body["model_spec"] == {"name": "taxi", "signature_name": "", "version": "1"}
    assert "serving_default" in body["metadata"]["signature_def"]["signature_def"]


def test_rows_answer_predictions_and_columns_answer_outputs(served):
    api = _api(served)
    status, body = call(api, "POST", "/v1/models/taxi:predict", {"instances": [ROW, {**ROW, "fare": 30}]})
    assert status == 200 and np.allclose(body["predictions"], [[0.11], [0.31]])
    columns = {"fare": [10.0, 30.0], "hour": [7, 8], "payment": ["Cash", "Card"]}
    status, body = call(api, "POST", "/v1/models/taxi:predict", {"inputs": columns})
    assert status == 200 and np.allclose(body["outputs"], [[0.11], [0.31]])
    assert set(body) == {"outputs"}


def test_missing_optional_features_are_filled_and_the_label_ignored(served):
    api = _api(served)
    status, body = call(
        api, "POST", "/v1/models/taxi/versions/1:predict", {"instances": [{"fare": 20, "big_tipper": 1}]}
    )
    assert status == 200 and np.allclose(body["predictions"], [[0.2]])
    _, columns = served.repository.servable(1).calls[-1]
    assert columns["hour"].tolist() == [0] and columns["payment"].tolist() == [b""]
    assert columns["fare"].dtype == np.float32


def test_serialized_examples_go_to_serving_default(served):
    api = _api(served)
    status, body = call(
        api, "POST", "/v1/models/taxi/versions/1:predict", {"instances": [{"b64": _example(40)}]}
    )
    assert status == 200 and np.allclose(body["predictions"], [[0.4]])
    assert served.repository.servable(1).calls[-1][0] == "serving_default"
    status, body = call(
        api, "POST", "/v1/models/taxi/versions/1:predict", {"inputs": {"examples": [{"b64": _example(60)}]}}
    )
    assert status == 200 and np.allclose(body["outputs"], [[0.6]])


def test_classify_answers_label_score_pairs_and_merges_context(served):
    body = {"context": {"payment": "Cash"}, "examples": [{"fare": 25.0, "hour": [7]}, {"fare": 75.0}]}
    status, answer = call(_api(served), "POST", "/v1/models/taxi/versions/1:classify", body)
    assert status == 200
    assert set(answer) == {"result"}  # TF Serving's key: clients read `result`
    assert [[label for label, _ in result] for result in answer["result"]] == [["0", "1"], ["0", "1"]]
    assert np.allclose([[score for _, score in r] for r in answer["result"]], [[0.75, 0.25], [0.25, 0.75]])
    _, columns = served.repository.servable(1).calls[-1]
    assert columns["payment"].tolist() == ["Cash", "Cash"]


@pytest.mark.parametrize(
    "method, path, body, status, message",
    [
        ("POST", "/v1/models/taxi:predict", b"{not json", 400, "JSON Parse error"),
        ("POST", "/v1/models/taxi:predict", b"", 400, "body is empty"),
        ("POST", "/v1/models/taxi:predict", [ROW], 400, "must be a JSON object"),
        ("POST", "/v1/models/taxi:predict", {"rows": [ROW]}, 400, "Missing 'inputs' or 'instances'"),
        ("POST", "/v1/models/taxi:predict", {"instances": [ROW], "inputs": {}}, 400, "not both"),
        ("POST", "/v1/models/taxi:predict", {"instances": []}, 400, "non-empty list"),
        (
            "POST",
            "/v1/models/taxi:predict",
            {"instances": [ROW, {**ROW, "fare": "ten"}]},
            400,
            "instances[1]: feature 'fare': expected a number, got the string 'ten'",
        ),
        (
            "POST",
            "/v1/models/taxi:predict",
            {"instances": [ROW, ROW, {"hour": 3}]},
            400,
            "instances[2]: feature 'fare': missing value",
        ),
        (
            "POST",
            "/v1/models/taxi:predict",
            {"instances": [{**ROW, "hour": 7.5}]},
            400,
            "expected an integer",
        ),
        ("POST", "/v1/models/taxi:predict", {"instances": [{**ROW, "hour": 2**64 - 1}]}, 400, "int64 range"),
        ("POST", "/v1/models/taxi:predict", {"instances": [{**ROW, "fare": True}]}, 400, "got a boolean"),
        ("POST", "/v1/models/taxi:predict", {"instances": [{**ROW, "payment": 3}]}, 400, "expected a string"),
        ("POST", "/v1/models/taxi:predict", {"instances": [{**ROW, "hour": [1, 2]}]}, 400, "one value"),
        (
            "POST",
            "/v1/models/taxi:predict",
            {"instances": [{**ROW, "fair": 1.0}]},
            400,
            "unknown feature(s) ['fair']",
        ),
        (
            "POST",
            "/v1/models/taxi:predict",
            {"instances": ["x", ROW]},
            400,
            "instances[1]: expected a serialized",
        ),
        ("POST", "/v1/models/taxi:predict", {"instances": [7]}, 400, "instances[0]: expected an object"),
        ("POST", "/v1/models/taxi:predict", {"inputs": {"fare": [1.0], "hour": [1, 2]}}, 400, "same number"),
        ("POST", "/v1/models/taxi:predict", {"inputs": {"fare": 1.0}}, 400, "must be lists"),
        ("POST", "/v1/models/taxi:predict", {"instances": [{"b64": "***"}]}, 400, "invalid base64"),
        (
            "POST",
            "/v1/models/taxi:predict",
            {"signature_name": "nope", "instances": [ROW]},
            400,
            '"nope" not found',
        ),
        ("POST", "/v1/models/taxi:classify", {"examples": "x"}, 400, "'examples' must be"),
        ("POST", "/v1/models/taxi:explain", {"examples": [ROW]}, 400, "unsupported method :explain"),
        (
            "POST",
            "/v1/models/taxi:regress",
            {"examples": [ROW]},
            400,
            "model 'taxi' version 2 is a binary classifier (task 'binary'): it does not answer :regress; "
            "use :classify",
        ),
        ("POST", "/v1/models/bikes:predict", {"instances": [ROW]}, 404, "Servable not found"),
        ("POST", "/v1/models/..:predict", {"instances": [ROW]}, 400, "invalid model name"),
        ("POST", "/v1/models/taxi/versions/9:predict", {"instances": [ROW]}, 404, "Specific(taxi, 9)"),
        (
            "POST",
            "/v1/models/taxi/versions/x1:predict",
            {"instances": [ROW]},
            400,
            "Failed to convert version",
        ),
        ("POST", "/v1/models/taxi/labels/canary:predict", {"instances": [ROW]}, 404, "version label: canary"),
        ("GET", "/v1/models/taxi:predict", None, 405, "not allowed"),
        ("DELETE", "/v1/models/taxi", None, 405, "not allowed"),
        ("GET", "/v1/nothing", None, 404, "Malformed request"),
        ("GET", "/v1/models/taxi/versions/9", None, 404, "Could not find version 9"),
    ],
)
def test_bad_requests_get_tf_serving_errors(served, method, path, body, status, message):
    got_status, answer = call(_api(served), method, path, body)
    assert got_status == status
    assert message in answer["error"]
    assert set(answer) == {"error"}


def test_no_malformed_body_causes_a_server_error(served):
    api = _api(served)
    bodies = [b"null", b"[]", b"3", b'"x"', b"{}", b'{"instances": null}', b'{"instances": [null]}']
    bodies += [b'{"instances": [{}]}', b'{"inputs": []}', b'{"inputs": [1]}', b'{"inputs": {"examples": []}}']
    bodies += [b'{"instances": [{"fare": {"b64": "AA=="}}]}', b'{"instances": [{"payment": {"b64": 1}}]}']
    bodies += [b'{"instances": [{"fare": 1e400}]}', b"\xff\xfe", b'{"signature_name": 5, "instances": [{}]}']
    bodies += [b'{"instances": [{"b64": "AAAA"}]}', b'{"examples": [{"fare": null}]}']
    for path in ("/v1/models/taxi:predict", "/v1/models/taxi:classify"):
        for body in bodies:
            status, answer = call(api, "POST", path, body)
            assert 400 <= status < 500 or status == 200, (path, body, status, answer)
            assert status == 200 or "error" in answer


def test_partial_automation_marks_the_deferral_band_and_queues_it(served):
    queue = Recorder()
    review = HumanReviewConfig(automation="partial", defer_low=0.4, defer_high=0.6)
    api = _api(served, review_config=review, review_queue=queue)
    fares = [10.0, 45.0, 59.0, 90.0]
    status, body = call(
        api, "POST", "/v1/models/taxi/versions/1:predict", {"instances": [{**ROW, "fare": f} for f in fares]}
    )
    assert status == 200
    assert body["review"]["deferred"] == [False, True, True, False]
    assert np.allclose(body["predictions"], [[0.1], [0.45], [0.59], [0.9]])
    added = queue.named("add")
    assert [(args[0], args[1], args[2]["fare"], args[4]) for args in added] == [
        ("taxi", 1, 45.0, True),
        ("taxi", 1, 59.0, True),
    ]


def test_full_automation_keeps_tf_serving_shape(served):
    status, body = call(_api(served), "POST", "/v1/models/taxi:predict", {"instances": [ROW]})
    assert set(body) == {"predictions"}


def test_bookkeeping_runs_after_the_answer(served):
    monitor, log = Recorder(), Recorder()
    api = _api(served, monitor=monitor, prediction_log=log)
    response = api.handle("POST", "/v1/models/taxi:predict", {}, json.dumps({"instances": [ROW]}).encode())
    assert response.status == 200 and monitor.calls == [] and log.calls == []
    response.after()
    ((model, version, route, status, seconds),) = monitor.named("record_request")
    assert (model, version, route, status) == ("taxi", 2, "stable", 200) and seconds > 0
    assert monitor.named("record_inputs") == [("taxi", [ROW])]
    (record,) = [args[0] for args in log.named("submit")]
    assert (record.model, record.version, record.route, record.method) == ("taxi", 2, "stable", "predict")
    assert record.inputs == {"fare": [10.0], "hour": [7], "payment": ["Cash"]}
    assert np.allclose(record.outputs["outputs"], [[0.11]]) and record.latency_ms > 0
    # Errors are counted too, with their status.
    call(api, "POST", "/v1/models/taxi:predict", b"{")
    assert monitor.named("record_request")[-1][3] == 400


def test_shadow_gets_a_copy_and_never_changes_the_answer(served):
    from ml_lifecycle.serving.router import RolloutAction

    jobs = []
    api = _api(served, shadow=jobs.append)
    body = {"instances": [ROW]}
    _, without_shadow = call(api, "POST", "/v1/models/taxi:predict", body)
    served.router.apply(RolloutAction("shadow", version=1), served.repository.available())
    _, with_shadow = call(api, "POST", "/v1/models/taxi:predict", body)
    assert with_shadow == without_shadow
    (job,) = jobs
    assert (job.live_version, job.shadow_version) == (2, 1) and np.allclose(job.live.score, [0.11])
    # Requests that name a version are not shadowed.
    call(api, "POST", "/v1/models/taxi/versions/2:predict", body)
    assert len(jobs) == 1


def test_canary_routing_by_header_is_sticky(served):
    from ml_lifecycle.serving.router import RolloutAction

    api = _api(served)
    served.router.apply(RolloutAction("canary", version=1, fraction=0.5), served.repository.available())
    answers = {}
    for index in range(40):
        headers = {"X-Routing-Key": f"user-{index % 10}"}
        _, body = call(api, "POST", "/v1/models/taxi:predict", {"instances": [ROW]}, headers)
        answers.setdefault(index % 10, set()).add(round(body["predictions"][0][0], 4))
    assert all(len(values) == 1 for values in answers.values())
    assert {v for values in answers.values() for v in values} == {0.1, 0.11}


def test_the_serving_port_answers_admin_paths_404(served):
    status, body = call(
        _api(served), "POST", "/v1/admin/models/taxi/rollout", {"action": "canary", "version": 1}
    )
    assert status == 404 and "Malformed request" in body["error"]
    assert served.router.state.canary is None


def test_metrics_and_alerts_routes(served):
    class Monitor(Recorder):
        def prometheus_text(self):
            return "lifecycle_serving_requests_total 1\n"

        def evaluate_alerts(self):
            return []

    api = ServingApi({"taxi": served}, ServingServices(monitor=Monitor()))
    response = api.handle("GET", "/monitoring/prometheus/metrics", {}, b"")
    assert response.status == 200 and response.content_type.startswith("text/plain")
    assert response.body.decode() == "lifecycle_serving_requests_total 1\n"
    assert call(api, "GET", "/v1/alerts") == (200, {"alerts": []})


def test_a_unicode_digit_version_is_a_400_not_a_500(served):
    status, body = call(_api(served), "GET", "/v1/models/taxi/versions/²/metadata")

    assert status == 400
    assert body == {"error": "Failed to convert version: ² to numeric."}

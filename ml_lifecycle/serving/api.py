"""TF Serving's REST API, independent of the HTTP plumbing: routes, request decoding, response shapes.

`ServingApi.handle(method, path, headers, body)` returns an `HttpResponse` whose body is what TF
Serving would answer (`{"predictions": ...}`, `{"outputs": ...}`, `{"results": ...}`,
`{"model_version_status": ...}`, `{"model_spec": ..., "metadata": ...}`) or `{"error": "..."}` with a
4xx status that names the row and feature at fault. Work that the client need not wait for
(metrics, prediction log, review queue, shadow copy) is returned as `HttpResponse.after`, which
the server runs once the response is written.

Beside TF Serving's routes: `GET /monitoring/prometheus/metrics`, `GET /v1/alerts`, and the admin
routes `GET|POST /v1/admin/models/{name}/rollout` that `lifecycle rollout` talks to.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import repeat
from urllib.parse import unquote

import numpy as np
import orjson
import tensorflow as tf

from ml_lifecycle.config.serving import HumanReviewConfig
from ml_lifecycle.serving.models import (
    EXAMPLES_SIGNATURE,
    RAW_SIGNATURE,
    InputSpec,
    ModelNameError,
    ModelRepository,
    ServableVersion,
    VersionNotAvailableError,
    example_rows,
    validate_model_name,
)
from ml_lifecycle.serving.router import (
    NoVersionToServeError,
    RolloutAction,
    RolloutError,
    RouteDecision,
    Router,
    route,
)

log = logging.getLogger(__name__)

JSON = "application/json"
_MODEL_PATH = re.compile(
    r"^/v1/models/(?P<name>[^/:]+)"
    r"(?:/versions/(?P<version>[^/:]+)|/labels/(?P<label>[^/:]+))?"
    r"(?:(?P<metadata>/metadata)|:(?P<verb>[A-Za-z]+))?$"
)
_ROLLOUT_PATH = re.compile(r"^/v1/admin/models/(?P<name>[^/:]+)/rollout$")
_INT64 = (-(2**63), 2**63 - 1)


class ApiError(Exception):
    """An answer other than 200, with TF Serving's `{"error": message}` body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class HttpResponse:
    status: int
    body: bytes
    content_type: str = JSON
    # Extra response headers: which version answered and by which route (TF Serving's body has no
    # version; clients that do not look at these headers are unaffected).
    headers: dict[str, str] = field(default_factory=dict)
    # Runs after the response is written: bookkeeping the client need not wait for.
    after: Callable[[], None] | None = None


@dataclass(frozen=True)
class FeatureRules:
    """What requests may and must carry, from the curated schema's SERVING environment."""

    # Features whose absence (or null) is a 400; the others are filled as an absent tf.Example
    # feature would be.
    required: frozenset[str] = frozenset()
    # Keys accepted and ignored in rows (the label: clients replaying labelled data send it).
    ignored: frozenset[str] = frozenset()


@dataclass
class ServedModel:
    """One model as the API addresses it: its versions, its rollout router, its input rules."""

    repository: ModelRepository
    router: Router
    rules: FeatureRules
    # TF Serving's `version_labels` from the config; the rollout labels take precedence.
    config_labels: dict[str, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.repository.name

    def labels(self) -> dict[str, int]:
        return {**self.config_labels, **self.router.state.labels()}


@dataclass
class DecodedRequest:
    """A predict/classify body turned into one signature call."""

    signature: str
    columns: dict[str, np.ndarray]
    # Columnar Python values as the client sent them (None = missing), for logs and monitoring.
    values: dict[str, list]
    rows: int
    row_format: bool
    # Serialized tf.Examples when the request used the `serving_default` signature.
    examples: list[bytes] | None = None

    def input_rows(self, limit: int) -> list[dict[str, object]]:
        """Up to `limit` rows of raw values (tf.Examples decoded), spread evenly over the request."""
        step = -(-self.rows // limit)
        if self.examples is not None:
            return example_rows(self.examples[::step])
        names = list(self.values)
        columns = [column[::step] for column in self.values.values()]
        return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


@dataclass(frozen=True)
class ShadowJob:
    """A live request's copy for the shadow version, with the live answer to compare against."""

    model: str
    live_version: int
    shadow_version: int
    request: DecodedRequest
    live_scores: np.ndarray
    method: str


Predictor = Callable[[ServableVersion, str, dict[str, np.ndarray]], dict[str, np.ndarray]]


def direct_predictor(servable: ServableVersion, signature: str, columns: dict[str, np.ndarray]):
    return servable.run(signature, columns)


@dataclass
class ServingServices:
    """The optional collaborators: metrics, prediction log, human review, shadow queue."""

    monitor: object | None = None  # serving.monitoring.Monitor
    prediction_log: object | None = None  # serving.prediction_log.PredictionLogWriter
    review_config: HumanReviewConfig = HumanReviewConfig()
    review_queue: object | None = None  # serving.review.ReviewQueue
    shadow: Callable[[ShadowJob], None] | None = None
    # serving.monitor_rows_per_request.
    monitor_rows_per_request: int = 8
    # Called after a rollout change, to keep the state's versions loaded.
    on_rollout_change: Callable[[ServedModel], None] | None = None


class ServingApi:
    def __init__(
        self,
        models: dict[str, ServedModel],
        services: ServingServices | None = None,
        predictor: Predictor = direct_predictor,
        routing_key_header: str = "X-Routing-Key",
        extra_metrics: Callable[[], str] | None = None,
    ) -> None:
        self.models = models
        # Prometheus text the server adds to the monitor's (shadow queue, batcher).
        self.extra_metrics = extra_metrics
        self.services = services or ServingServices()
        self.predictor = predictor
        self.routing_key_header = routing_key_header.lower()

    # -- dispatch ---------------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> HttpResponse:
        started = time.perf_counter()
        context = _RequestContext()
        try:
            response = self._dispatch(method, path.split("?", 1)[0], headers, body, context)
        except ApiError as error:
            response = error_response(error.status, error.message)
        except Exception as error:  # noqa: BLE001 - a bug answers 500 and is logged, never kills the server
            log.exception("internal error on %s %s", method, path)
            response = error_response(500, f"internal error: {type(error).__name__}: {error}")
        if context.version is not None:
            response.headers["X-Model-Version"] = str(context.version)
            response.headers["X-Route"] = context.route
        if context.model is not None:
            response.after = self._bookkeeping(response.status, context, time.perf_counter() - started)
        return response

    def _dispatch(self, method, path, headers, body, context) -> HttpResponse:
        match = _MODEL_PATH.match(path)
        if match:
            return self._model_route(method, match, headers, body, context)
        match = _ROLLOUT_PATH.match(path)
        if match:
            served = self._model(unquote(match["name"]))
            if method == "GET":
                return json_response(200, rollout_json(served))
            if method == "POST":
                return self._rollout(served, body)
            raise ApiError(405, f"method {method} not allowed on {path}")
        if path == "/monitoring/prometheus/metrics" and method == "GET":
            monitor = self.services.monitor
            if monitor is None:
                raise ApiError(404, "monitoring is not enabled on this server")
            self._refresh_log_stats()
            text = monitor.prometheus_text()
            if self.extra_metrics is not None:
                text = text.rstrip("\n") + "\n" + self.extra_metrics()
            return HttpResponse(200, text.encode(), "text/plain; version=0.0.4; charset=utf-8")
        if path == "/v1/alerts" and method == "GET":
            monitor = self.services.monitor
            self._refresh_log_stats()
            alerts = [] if monitor is None else monitor.evaluate_alerts()
            return json_response(200, {"alerts": [alert.to_json() for alert in alerts]})
        raise ApiError(404, f"Malformed request: {method} {unquote(path)}")

    def _refresh_log_stats(self) -> None:
        """The monitor's prediction-log counters (dropped, errors) are pulled, not pushed."""
        if self.services.monitor is not None and self.services.prediction_log is not None:
            self.services.monitor.record_log_stats(self.services.prediction_log.stats())

    def _model_route(self, method, match, headers, body, context) -> HttpResponse:
        # Matched before percent-decoding, so an encoded '/' stays inside the name and is refused there.
        match = {key: None if value is None else unquote(value) for key, value in match.groupdict().items()}
        served = self._model(match["name"])
        context.model = served.name
        verb = match["verb"]
        if verb is None:
            if method != "GET":
                raise ApiError(405, f"method {method} not allowed; use GET for status and metadata")
            if match["metadata"]:
                servable = self._addressed(served, match["version"], match["label"], context)
                return json_response(200, metadata_json(served.name, servable))
            return json_response(200, status_json(served, match["version"], match["label"]))
        if method != "POST":
            raise ApiError(405, f"method {method} not allowed; use POST for :{verb}")
        if verb not in ("predict", "classify"):
            raise ApiError(400, f"unsupported method :{verb}; this model serves :predict and :classify")
        if match["version"] is None and match["label"] is None:
            decision = self._route(served, headers)
            servable = self._servable(served, decision.version)
        else:
            servable = self._addressed(served, match["version"], match["label"], context)
            decision = RouteDecision(servable.version, context.route)
        context.version, context.route = servable.version, decision.route
        payload = parse_json(body)
        if verb == "predict":
            request = decode_predict(payload, servable, served.rules)
            outputs = self._run(servable, request)
            key = "predictions" if request.row_format else "outputs"
            value = _single_or_dict(outputs)
        else:
            request = decode_classify(payload, servable, served.rules)
            outputs = self._run(servable, request)
            key, value = "results", classification_results(scores_of(outputs))
        scores = scores_of(outputs)
        review = self._review_marks(scores)
        body: dict[str, object] = {key: value}
        if review is not None:
            # Not in TF Serving's shape: clients that do not know the key ignore it.
            body["review"] = review
        context.prediction = _Prediction(served, servable, decision, request, outputs, scores, review, verb)
        return json_response(200, body)

    def _model(self, name: str) -> ServedModel:
        try:
            validate_model_name(name)
        except ModelNameError as error:
            raise ApiError(400, str(error)) from error
        served = self.models.get(name)
        if served is None:
            raise ApiError(404, f"Servable not found for request: Latest({name})")
        return served

    def _route(self, served: ServedModel, headers: Mapping[str, str]) -> RouteDecision:
        key = _header(headers, self.routing_key_header)
        try:
            return route(served.router.state, key)
        except NoVersionToServeError as error:
            raise ApiError(503, f"model {served.name!r}: {error}") from error

    def _servable(self, served: ServedModel, version: int) -> ServableVersion:
        try:
            return served.repository.servable(version)
        except VersionNotAvailableError as error:
            raise ApiError(
                404, f"Servable not found for request: Specific({served.name}, {version})"
            ) from error

    def _addressed(self, served, version_text, label, context) -> ServableVersion:
        """The version a URL names by number or label; no version or label: the stable version."""
        servable = self._addressed_version(served, version_text, label, context)
        context.version = servable.version
        return servable

    def _addressed_version(self, served, version_text, label, context) -> ServableVersion:
        if version_text is not None:
            context.route = "version"
            return self._servable(served, _parse_version(version_text))
        if label is not None:
            context.route = f"label:{label}"
            labels = served.labels()
            if label not in labels:
                raise ApiError(
                    404, f"Unrecognized servable version label: {label} (known: {sorted(labels) or 'none'})"
                )
            return self._servable(served, labels[label])
        stable = served.router.state.stable
        if stable is None:
            raise ApiError(503, f"model {served.name!r}: no version is serving yet")
        context.route = "stable"
        return self._servable(served, stable)

    # -- predict / classify -----------------------------------------------------------------------

    def _run(self, servable: ServableVersion, request: DecodedRequest) -> dict[str, np.ndarray]:
        try:
            return self.predictor(servable, request.signature, request.columns)
        except (tf.errors.InvalidArgumentError, ValueError, TypeError) as error:
            # Bad serialized examples (or values the checks above let through) are the client's.
            message = getattr(error, "message", None) or str(error)
            raise ApiError(400, f"the model rejected the input: {message.splitlines()[0]}") from error

    def _review_marks(self, scores: np.ndarray) -> dict | None:
        config = self.services.review_config
        if config.automation == "full":
            return None
        from ml_lifecycle.serving.review import decide

        decisions = [decide(float(score), config) for score in scores]
        return {
            "deferred": [decision.deferred for decision in decisions],
            "flagged": [decision.flagged for decision in decisions],
        }

    def _after_prediction(self, prediction: _Prediction, latency_ms: float) -> None:
        services = self.services
        served, servable, decision, request = (
            prediction.served,
            prediction.servable,
            prediction.decision,
            prediction.request,
        )
        scores, review, method = prediction.scores, prediction.review, prediction.method
        deferred = review["deferred"] if review else [False] * len(scores)
        if services.monitor is not None:
            services.monitor.record_inputs(served.name, request.input_rows(services.monitor_rows_per_request))
            # The monitor counts the first `deferred` scores as deferred: deferred rows go first
            # (a stable sort keeps the others in request order). Arrays: no per-row Python.
            if review:
                deferred_mask = np.asarray(deferred, dtype=bool)
                ordered = scores[np.argsort(~deferred_mask, kind="stable")]
                deferred_count = int(deferred_mask.sum())
            else:
                ordered, deferred_count = scores, 0
            services.monitor.record_outputs(served.name, servable.version, ordered, deferred_count)
        if services.review_queue is not None and review is not None:
            rows = request.input_rows(request.rows)
            for index, row in enumerate(rows):
                if review["flagged"][index] or review["deferred"][index]:
                    services.review_queue.add(
                        served.name, servable.version, row, float(scores[index]), bool(deferred[index])
                    )
        if services.prediction_log is not None:
            services.prediction_log.submit(
                logged_prediction(
                    served.name,
                    servable.version,
                    request,
                    prediction.outputs,
                    scores,
                    method,
                    decision.route,
                    latency_ms,
                )
            )
        if services.shadow is not None and decision.shadow_version is not None:
            services.shadow(
                ShadowJob(served.name, servable.version, decision.shadow_version, request, scores, method)
            )

    def _bookkeeping(self, status: int, context: _RequestContext, seconds: float) -> Callable[[], None]:
        monitor = self.services.monitor

        def run() -> None:
            if monitor is not None:
                monitor.record_request(context.model, context.version, context.route, status, seconds)
            if context.prediction is not None:
                self._after_prediction(context.prediction, seconds * 1000)

        return run

    # -- admin ------------------------------------------------------------------------------------

    def _rollout(self, served: ServedModel, body: bytes) -> HttpResponse:
        try:
            action = RolloutAction.from_json(parse_json(body))
            served.router.apply(action, served.repository.available())
        except RolloutError as error:
            raise ApiError(400, f"model {served.name!r}: {error}") from error
        if self.services.on_rollout_change is not None:
            self.services.on_rollout_change(served)
        return json_response(200, rollout_json(served))


@dataclass(frozen=True)
class _Prediction:
    served: ServedModel
    servable: ServableVersion
    decision: RouteDecision
    request: DecodedRequest
    outputs: dict[str, np.ndarray]
    scores: np.ndarray
    review: dict | None
    method: str


@dataclass
class _RequestContext:
    model: str | None = None
    version: int | None = None
    route: str = ""
    prediction: _Prediction | None = None


def _header(headers: Mapping[str, str], lower_name: str) -> str | None:
    getter = getattr(headers, "get", None)
    value = getter(lower_name) if getter else None
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == lower_name), None)
    return value or None


def _parse_version(text: str) -> int:
    if not text.isdigit():
        raise ApiError(400, f"Failed to convert version: {text} to numeric.")
    return int(text)


# -- JSON in and out ------------------------------------------------------------------------------


def parse_json(body: bytes) -> object:
    if not body:
        raise ApiError(400, "JSON Parse error: the request body is empty")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise ApiError(400, f"JSON Parse error: {error}") from error


def json_response(status: int, body: object) -> HttpResponse:
    return HttpResponse(status, orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY))


def error_response(status: int, message: str) -> HttpResponse:
    return HttpResponse(status, orjson.dumps({"error": message}))


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


# -- status and metadata --------------------------------------------------------------------------


def status_json(served: ServedModel, version_text: str | None, label: str | None) -> dict:
    records = served.repository.statuses()
    if version_text is not None or label is not None:
        wanted = _parse_version(version_text) if version_text is not None else served.labels().get(label)
        if wanted is None:
            raise ApiError(404, f"Unrecognized servable version label: {label}")
        records = [r for r in records if r.version == wanted]
        if not records:
            raise ApiError(404, f"Could not find version {wanted} of model {served.name}")
    if not records:
        raise ApiError(404, f"Could not find any versions of model {served.name}")
    return {
        "model_version_status": [
            {
                "version": str(record.version),
                "state": record.state,
                "status": {
                    "error_code": "UNKNOWN" if record.error_message else "OK",
                    "error_message": record.error_message,
                },
            }
            for record in records
        ]
    }


def metadata_json(name: str, servable: ServableVersion) -> dict:
    return {
        "model_spec": {"name": name, "signature_name": "", "version": str(servable.version)},
        "metadata": {"signature_def": {"signature_def": servable.signature_def_json}},
    }


def rollout_json(served: ServedModel) -> dict:
    return {
        "model": served.name,
        "state": served.router.state.to_json(),
        "labels": served.labels(),
        "available": served.repository.available(),
    }


# -- request decoding -----------------------------------------------------------------------------


def _is_example_payload(item: object) -> bool:
    if isinstance(item, dict):
        return set(item) == {"b64"} or set(item) == {"examples"}
    return isinstance(item, str)


def _choose_signature(payload: dict, servable: ServableVersion, sample: object) -> str:
    name = payload.get("signature_name")
    if name is not None:
        if not isinstance(name, str) or name not in servable.signatures:
            raise ApiError(
                400,
                f'Serving signature name: "{name}" not found in signature def '
                f"(model version {servable.version} has {sorted(servable.signatures)})",
            )
        return name
    if _is_example_payload(sample) or RAW_SIGNATURE not in servable.signatures:
        return EXAMPLES_SIGNATURE
    return RAW_SIGNATURE


def decode_predict(payload: object, servable: ServableVersion, rules: FeatureRules) -> DecodedRequest:
    """`{"instances": [...]}` (rows) or `{"inputs": ...}` (columns) as one signature call."""
    if not isinstance(payload, dict):
        raise ApiError(400, f"the request must be a JSON object, got {_json_type(payload)}")
    has_instances, has_inputs = "instances" in payload, "inputs" in payload
    if has_instances == has_inputs:
        raise ApiError(
            400,
            "Missing 'inputs' or 'instances' key"
            if not has_inputs
            else "use 'instances' or 'inputs', not both",
        )
    unknown = sorted(set(payload) - {"instances", "inputs", "signature_name"})
    if unknown:
        raise ApiError(
            400, f"unknown key(s) {unknown} in the request; expected instances or inputs, signature_name"
        )
    if has_instances:
        instances = payload["instances"]
        if not isinstance(instances, list) or not instances:
            raise ApiError(400, "'instances' must be a non-empty list")
        signature = _choose_signature(payload, servable, instances[0])
        if signature == EXAMPLES_SIGNATURE:
            examples = [_example_bytes(item, f"instances[{i}]") for i, item in enumerate(instances)]
            return _examples_request(examples, row_format=True)
        inputs = servable.signatures[signature].inputs
        values = rows_to_values(instances, inputs, rules, "instances")
        return _raw_request(signature, values, inputs, len(instances), row_format=True)
    inputs_payload = payload["inputs"]
    sample = inputs_payload[0] if isinstance(inputs_payload, list) and inputs_payload else inputs_payload
    if isinstance(inputs_payload, dict) and set(inputs_payload) == {"examples"}:
        sample = (inputs_payload["examples"] or [None])[0]
    signature = _choose_signature(payload, servable, sample)
    if signature == EXAMPLES_SIGNATURE:
        items = inputs_payload.get("examples") if isinstance(inputs_payload, dict) else inputs_payload
        if not isinstance(items, list) or not items:
            raise ApiError(
                400, "'inputs' for serving_default must be a non-empty list of {\"b64\": ...} examples"
            )
        examples = [_example_bytes(item, f"inputs[{i}]") for i, item in enumerate(items)]
        return _examples_request(examples, row_format=False)
    inputs = servable.signatures[signature].inputs
    values, rows = columns_to_values(inputs_payload, inputs, rules)
    return _raw_request(signature, values, inputs, rows, row_format=False)


def decode_classify(payload: object, servable: ServableVersion, rules: FeatureRules) -> DecodedRequest:
    """TF Serving's classify body: `{"examples": [{feature: value}, ...], "context"?: {...}}`."""
    if not isinstance(payload, dict):
        raise ApiError(400, f"the request must be a JSON object, got {_json_type(payload)}")
    unknown = sorted(set(payload) - {"examples", "context", "signature_name"})
    if unknown:
        raise ApiError(
            400, f"unknown key(s) {unknown} in the request; expected examples, context, signature_name"
        )
    examples = payload.get("examples")
    if not isinstance(examples, list) or not examples:
        raise ApiError(400, "'examples' must be a non-empty list of feature objects")
    name = payload.get("signature_name")
    if name is not None and name != RAW_SIGNATURE:
        raise ApiError(400, f"classify runs the raw-feature signature {RAW_SIGNATURE!r}, not {name!r}")
    if RAW_SIGNATURE not in servable.signatures:
        raise ApiError(
            400, f"model version {servable.version} has no {RAW_SIGNATURE!r} signature to classify with"
        )
    context = payload.get("context") or {}
    if not isinstance(context, dict):
        raise ApiError(400, "'context' must be an object of feature values")
    if context:
        examples = [{**context, **example} if isinstance(example, dict) else example for example in examples]
    inputs = servable.signatures[RAW_SIGNATURE].inputs
    values = rows_to_values(examples, inputs, rules, "examples")
    return _raw_request(RAW_SIGNATURE, values, inputs, len(examples), row_format=True)


def _examples_request(examples: list[bytes], row_format: bool) -> DecodedRequest:
    column = np.array(examples, dtype=object)
    return DecodedRequest(
        EXAMPLES_SIGNATURE, {"examples": column}, {"examples": examples}, len(examples), row_format, examples
    )


def _raw_request(
    signature, values: dict[str, list], inputs: dict[str, InputSpec], rows: int, row_format: bool
):
    columns = {}
    for name, spec in inputs.items():
        columns[name] = _dense_column(values[name], spec)
    return DecodedRequest(signature, columns, values, rows, row_format)


def _dense_column(values: list, spec: InputSpec) -> np.ndarray:
    """Checked JSON values -> the signature's dense column, a missing value -> the fill value."""
    if spec.dtype.kind == "f":
        # None becomes NaN (JSON has no NaN, so every NaN here was a None). Straight to the input
        # dtype: rounding a Python float to float32 once equals rounding it via float64.
        column = np.array(values, dtype=spec.dtype)
        if None in values:
            column[np.isnan(column)] = 0.0
        return column
    if None in values:
        fill = spec.fill_value
        values = [fill if value is None else value for value in values]
    # Text stays str: TensorFlow encodes str objects of an object array as UTF-8.
    return np.array(values, dtype=spec.dtype)


def _b64_bytes(value: object, where: str) -> bytes | None:
    """The bytes of TF Serving's binary form `{"b64": "..."}`; None for any other value."""
    if not (isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str)):
        return None
    try:
        return base64.b64decode(value["b64"], validate=True)
    except (binascii.Error, ValueError) as error:
        raise ApiError(400, f"{where}: invalid base64: {error}") from error


def _example_bytes(item: object, where: str) -> bytes:
    if isinstance(item, dict) and set(item) == {"examples"}:
        item = item["examples"]
    decoded = _b64_bytes(item, where)
    if decoded is not None:
        return decoded
    if isinstance(item, str):
        return item.encode()
    raise ApiError(
        400, f'{where}: expected a serialized tf.Example as {{"b64": "..."}}, got {_json_type(item)}'
    )


# Python types a JSON value may have for each input dtype kind, on the fast path.
_FAST_TYPES = {"f": {int, float}, "i": {int}, "O": {str}}
_NONE_TYPE = type(None)


def rows_to_values(
    rows: list, inputs: dict[str, InputSpec], rules: FeatureRules, where: str
) -> dict[str, list]:
    """Row objects -> columnar lists of checked Python values (None: missing, allowed)."""
    known = set(inputs) | rules.ignored
    for index, row in enumerate(rows):
        if type(row) is not dict:
            raise ApiError(
                400, f"{where}[{index}]: expected an object of feature values, got {_json_type(row)}"
            )
        if not row.keys() <= known:
            unknown = sorted(set(row) - known)
            raise ApiError(
                400, f"{where}[{index}]: unknown feature(s) {unknown}; the model takes {sorted(inputs)}"
            )
    return {
        # map(dict.get, ...) transposes at C speed; a missing key reads as None (missing).
        name: _checked_column(
            list(map(dict.get, rows, repeat(name))), spec, name in rules.required, where, "[{i}]", name
        )
        for name, spec in inputs.items()
    }


def columns_to_values(
    payload: object, inputs: dict[str, InputSpec], rules: FeatureRules
) -> tuple[dict[str, list], int]:
    """`{"inputs": {feature: [values...]}}` -> columnar lists of checked values, and the row count."""
    if not isinstance(payload, dict):
        raise ApiError(400, f"'inputs' must be an object of feature columns, got {_json_type(payload)}")
    unknown = sorted(set(payload) - set(inputs) - rules.ignored)
    if unknown:
        raise ApiError(400, f"inputs: unknown feature(s) {unknown}; the model takes {sorted(inputs)}")
    lengths = {
        name: len(value) for name, value in payload.items() if isinstance(value, list) and name in inputs
    }
    not_lists = sorted(name for name in payload if name in inputs and name not in lengths)
    if not_lists:
        raise ApiError(400, f"inputs: feature(s) {not_lists} must be lists with one value per row")
    if not lengths:
        raise ApiError(400, "inputs: no feature columns given")
    rows = max(lengths.values())
    uneven = sorted(name for name, length in lengths.items() if length != rows)
    if uneven or rows == 0:
        raise ApiError(
            400, f"inputs: every feature needs the same number of values ({rows}); {uneven} differ"
        )
    values = {}
    for name, spec in inputs.items():
        column = payload.get(name)
        if column is None:
            column = [None] * rows
        values[name] = _checked_column(
            column, spec, name in rules.required, f"inputs['{name}']", "[{i}]", None
        )
    return values, rows


def _checked_column(
    values: list, spec: InputSpec, required: bool, where: str, index_format: str, feature: str | None
) -> list:
    """Checks one column's JSON values against the input's dtype; fast when all are of the right type."""
    kind = spec.dtype.kind
    types = set(map(type, values))
    has_missing = _NONE_TYPE in types
    if (
        types - {_NONE_TYPE} <= _FAST_TYPES[kind]
        and not (has_missing and required)
        and (kind != "i" or _ints_fit([v for v in values if v is not None] if has_missing else values))
    ):
        return values
    checked = []
    for index, value in enumerate(values):
        place = where + index_format.format(i=index) + (f": feature '{feature}'" if feature else "")
        checked.append(_checked_value(value, kind, required, place))
    return checked


def _ints_fit(values: list) -> bool:
    return not values or (_INT64[0] <= min(values) and max(values) <= _INT64[1])


def _checked_value(value: object, kind: str, required: bool, place: str) -> object:
    if isinstance(value, list):
        if len(value) > 1:
            raise ApiError(400, f"{place}: expected one value, got a list of {len(value)}")
        value = value[0] if value else None
    if value is None:
        if required:
            raise ApiError(400, f"{place}: missing value (the schema requires this feature)")
        return None
    if kind == "O":
        decoded = _b64_bytes(value, place)
        if decoded is not None:
            return decoded
        if isinstance(value, str):
            return value
        raise ApiError(400, f"{place}: expected a string, got {_json_type(value)}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        expected = "an integer" if kind == "i" else "a number"
        raise ApiError(400, f"{place}: expected {expected}, got {_json_type(value)}")
    if kind == "i":
        if isinstance(value, float):
            raise ApiError(400, f"{place}: expected an integer, got {_json_type(value)}")
        if not _INT64[0] <= value <= _INT64[1]:
            raise ApiError(400, f"{place}: integer {value} is out of the int64 range")
    return value


# -- outputs --------------------------------------------------------------------------------------


def _single_or_dict(outputs: dict[str, np.ndarray]) -> object:
    """TF Serving: a signature with one output answers its values alone, several answer a dict
    per row (row format) or per output (columnar) — only one output is exported here."""
    if len(outputs) == 1:
        return next(iter(outputs.values()))
    return outputs


def scores_of(outputs: dict[str, np.ndarray]) -> np.ndarray:
    """The positive-class probability per row (first output's first column)."""
    values = outputs.get("outputs", next(iter(outputs.values())))
    values = np.asarray(values, dtype=np.float64)
    return values.reshape(len(values), -1)[:, 0] if values.ndim else values.reshape(1)


def classification_results(scores: np.ndarray) -> list:
    """TF Serving's classify result: per example, [label, score] for each class."""
    return [[["0", float(1.0 - score)], ["1", float(score)]] for score in scores]


def logged_prediction(
    model, version, request: DecodedRequest, outputs, scores, method, route_name, latency_ms
):
    from ml_lifecycle.serving.prediction_log import LoggedPrediction

    inputs = request.values
    if method == "classify":
        # TF Serving's ClassificationRequest carries tf.Examples.
        inputs = {"examples": serialized_examples(request)}
        logged_outputs = {"results": classification_results(scores)}
    else:
        # The arrays themselves: the writer thread turns them into TensorProtos at numpy speed.
        logged_outputs = dict(outputs)
    return LoggedPrediction(
        model=model,
        version=version,
        signature_name=request.signature,
        method=method,
        inputs=inputs,
        outputs=logged_outputs,
        route=route_name,
        latency_ms=latency_ms,
        time_s=time.time(),
    )


def serialized_examples(request: DecodedRequest) -> list[bytes]:
    """The request's rows as tf.Examples (absent values left out), typed as the signature's inputs."""
    if request.examples is not None:
        return request.examples
    examples = [tf.train.Example() for _ in range(request.rows)]
    for name, values in request.values.items():
        kind = request.columns[name].dtype.kind
        for example, value in zip(examples, values, strict=True):
            if value is None:
                continue
            feature = example.features.feature[name]
            if kind == "f":
                feature.float_list.value.append(float(value))
            elif kind == "i":
                feature.int64_list.value.append(int(value))
            else:
                feature.bytes_list.value.append(value.encode() if isinstance(value, str) else value)
    return [example.SerializeToString() for example in examples]

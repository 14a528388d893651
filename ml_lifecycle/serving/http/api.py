"""TF Serving's REST API, without the socket: routes and their handlers.

`ServingApi.handle(method, path, headers, body)` returns an `HttpResponse` whose body is what TF
Serving would answer (`{"predictions": ...}`, `{"outputs": ...}`, `{"result": ...}`,
`{"model_version_status": ...}`, `{"model_spec": ..., "metadata": ...}`) or `{"error": "..."}` with a
4xx status that names the row and feature at fault. A predict, classify or regress is decoded
(`protocol.requests`), run (`inference.predict`), read by the model's task (`inference.answers`)
and encoded (`protocol.responses`); the work the client need not wait for (metrics, prediction
log, review queue, shadow copy: `observability.hooks`) is returned as `HttpResponse.after`, which
the server runs once the response is written.

Which methods a version answers follows its task (its model description), as in TF Serving:
`:predict` every model; `:classify` classifiers (binary, multiclass); `:regress` regression
models. The other is a 400 that names the task and the method to use. A `:predict` on a
signature that does not score (`transform_features`) is answered with its outputs as they are,
counted as a request and logged; it gets no review marks, output metrics, queued rows or shadow
copy.

Beside TF Serving's routes: `GET /monitoring/prometheus/metrics` and `GET /v1/alerts`. The admin
routes (rollout changes) are not here: they are `admin.py`, on a listener of their own.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import unquote

import orjson

from ml_lifecycle.base.contracts import ServerHeader, ServerPath, Task
from ml_lifecycle.config.serving import HumanReviewConfig
from ml_lifecycle.serving.inference.answers import TASK_NOUNS, ModelAnswer, answer_of
from ml_lifecycle.serving.inference.predict import (
    ModelCallTimeoutError,
    ModelInputError,
    Predictor,
    direct_predictor,
    infer,
)
from ml_lifecycle.serving.inference.repository import (
    ModelNameError,
    ModelRepository,
    VersionNotAvailableError,
    validate_model_name,
)
from ml_lifecycle.serving.inference.servable import ServableVersion
from ml_lifecycle.serving.observability.hooks import (
    MonitorSink,
    Prediction,
    PredictionLogSink,
    RequestHooks,
    ReviewSink,
)
from ml_lifecycle.serving.observability.privacy import FeaturePrivacy
from ml_lifecycle.serving.observability.shadow import ShadowJob
from ml_lifecycle.serving.protocol.errors import ApiError
from ml_lifecycle.serving.protocol.methods import TASK_METHODS, Method
from ml_lifecycle.serving.protocol.requests import decode_examples, decode_predict, parse_json, parse_version
from ml_lifecycle.serving.protocol.responses import (
    classify_response,
    metadata_json,
    predict_response,
    regress_response,
    status_json,
)
from ml_lifecycle.serving.protocol.values import FeatureRules
from ml_lifecycle.serving.review_rule import ReviewRule
from ml_lifecycle.serving.router import (
    NoVersionToServeError,
    RouteDecision,
    Router,
    route,
)

log = logging.getLogger(__name__)

JSON = "application/json"
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"
_MODEL_PATH = re.compile(
    r"^/v1/models/(?P<name>[^/:]+)"
    r"(?:/versions/(?P<version>[^/:]+)|/labels/(?P<label>[^/:]+))?"
    r"(?:(?P<metadata>/metadata)|:(?P<verb>[A-Za-z]+))?$"
)
_METHODS = {method.value: method for method in Method}


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


def json_response(status: int, body: object) -> HttpResponse:
    return HttpResponse(status, orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY))


def error_response(status: int, message: str) -> HttpResponse:
    """TF Serving's refusal: `{"error": message}`."""
    return json_response(status, {"error": message})


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

    def available(self) -> list[int]:
        return self.repository.available()


@dataclass
class ServingServices:
    """The optional collaborators: metrics, prediction log, human review, shadow queue."""

    monitor: MonitorSink | None = None
    prediction_log: PredictionLogSink | None = None
    review_config: HumanReviewConfig = HumanReviewConfig()
    review_queue: ReviewSink | None = None
    shadow: Callable[[ShadowJob], None] | None = None
    # serving.monitor_rows_per_request.
    monitor_rows_per_request: int = 8
    # serving.privacy: applied to every row before the prediction log or review queue sees it.
    privacy: FeaturePrivacy | None = None
    # The server's counters for the monitor (prediction log, shadow queue, batcher); None: the
    # prediction log's alone.
    process_counters: Callable[[], dict[str, int]] | None = None
    # What the metrics page and alerts read: with several workers, every worker's metrics
    # (`observability.exchange.MetricsExchange`); None: the monitor itself.
    metrics_view: MetricsView | None = None


class MetricsView(Protocol):
    def prometheus_text(self) -> str: ...

    def evaluate_alerts(self) -> list: ...


@dataclass
class _RequestContext:
    """What the bookkeeping after the response needs to know about the request."""

    model: str | None = None
    version: int | None = None
    route: str = ""
    prediction: Prediction | None = None


class ServingApi:
    def __init__(
        self,
        models: dict[str, ServedModel],
        services: ServingServices | None = None,
        predictor: Predictor = direct_predictor,
        routing_key_header: str = "X-Routing-Key",
        response_headers: Mapping[str, str] | None = None,
    ) -> None:
        self.models = models
        # Added to every answer (a worker process says which it is: X-Worker).
        self.response_headers = dict(response_headers or {})
        self.services = services or ServingServices()
        self.hooks = RequestHooks(self.services)
        self.review_rule = ReviewRule(self.services.review_config)
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
        except ModelCallTimeoutError as error:
            response = error_response(503, f"{error}; retry later")
        except Exception as error:  # noqa: BLE001 - a bug answers 500 and is logged, never kills the server
            log.exception("internal error on %s %s", method, path)
            response = error_response(500, f"internal error: {type(error).__name__}: {error}")
        response.headers.update(self.response_headers)
        if context.version is not None:
            response.headers[ServerHeader.MODEL_VERSION] = str(context.version)
            response.headers[ServerHeader.ROUTE] = context.route
        if context.model is not None:
            response.after = self._bookkeeping(response.status, context, time.perf_counter() - started)
        return response

    def _dispatch(self, method, path, headers, body, context) -> HttpResponse:
        match = _MODEL_PATH.match(path)
        if match:
            return self._model_route(method, match, headers, body, context)
        if path == ServerPath.METRICS and method == "GET":
            monitor = self.metrics_view()
            if monitor is None:
                raise ApiError(404, "monitoring is not enabled on this server")
            self._refresh_log_stats()
            text = monitor.prometheus_text()
            return HttpResponse(200, text.encode(), PROMETHEUS_TEXT)
        if path == ServerPath.ALERTS and method == "GET":
            monitor = self.metrics_view()
            self._refresh_log_stats()
            alerts = [] if monitor is None else monitor.evaluate_alerts()
            return json_response(200, {"alerts": [alert.to_json() for alert in alerts]})
        raise ApiError(404, f"Malformed request: {method} {unquote(path)}")

    def metrics_view(self) -> MetricsView | None:
        """Where the metrics page and alerts read from (every worker's metrics, or the monitor)."""
        return self.services.metrics_view or self.services.monitor

    def _refresh_log_stats(self) -> None:
        """The monitor's prediction-log and server counters are pulled, not pushed."""
        services = self.services
        if services.monitor is None:
            return
        if services.process_counters is not None:
            services.monitor.record_log_stats(services.process_counters())
        elif services.prediction_log is not None:
            services.monitor.record_log_stats(services.prediction_log.stats())

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
            records = served.repository.statuses()
            return json_response(
                200, status_json(served.name, records, served.labels(), match["version"], match["label"])
            )
        if method != "POST":
            raise ApiError(405, f"method {method} not allowed; use POST for :{verb}")
        if verb not in _METHODS:
            raise ApiError(400, f"unsupported method :{verb}; models serve :predict, :classify and :regress")
        if match["version"] is None and match["label"] is None:
            decision = self._route(served, headers)
            servable = self._servable(served, decision.version)
        else:
            servable = self._addressed(served, match["version"], match["label"], context)
            decision = RouteDecision(servable.version, context.route)
        context.version, context.route = servable.version, decision.route
        return self._predict(_METHODS[verb], served, servable, decision, parse_json(body), context)

    def _predict(self, method: Method, served, servable, decision, payload, context) -> HttpResponse:
        """Decode, infer, encode; the prediction is kept for the hooks after the response."""
        description = servable.description
        _check_method(method, description.task, served.name, servable.version)
        if method is Method.PREDICT:
            request = decode_predict(payload, servable, served.rules)
        else:
            request = decode_examples(payload, servable, served.rules, method)
        try:
            outputs = infer(self.predictor, servable, request.signature, request.columns)
        except ModelInputError as error:
            raise ApiError(400, str(error)) from error
        # None for a signature that does not score: nothing to review or count as an answer.
        answer = answer_of(outputs, description, request.signature)
        review = None if answer is None else self.review_rule.marks(answer, served.name)
        if method is Method.PREDICT:
            body = predict_response(outputs, request.row_format, review)
        elif method is Method.CLASSIFY:
            body = classify_response(_scored(answer, request.signature), review)
        else:
            body = regress_response(_scored(answer, request.signature), review)
        context.prediction = Prediction(
            served.name,
            servable.version,
            decision.route,
            decision.shadow_version,
            request,
            outputs,
            answer,
            review,
            method,
        )
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
            return self._servable(served, parse_version(version_text))
        if label is not None:
            labels = served.labels()
            if label not in labels:
                # Counted under one route value: label strings come from clients.
                context.route = "label:(unknown)"
                raise ApiError(
                    404, f"Unrecognized servable version label: {label} (known: {sorted(labels) or 'none'})"
                )
            context.route = f"label:{label}"
            return self._servable(served, labels[label])
        stable = served.router.state.stable
        if stable is None:
            raise ApiError(503, f"model {served.name!r}: no version is serving yet")
        context.route = "stable"
        return self._servable(served, stable)

    def _bookkeeping(self, status: int, context: _RequestContext, seconds: float) -> Callable[[], None]:
        def run() -> None:
            self.hooks.after_response(
                context.model, context.version, context.route, status, seconds, context.prediction
            )

        return run


def _check_method(method: Method, task: Task, model: str, version: int) -> None:
    """A 400 naming the task when it does not answer `method` (the method it does answer named)."""
    if method in TASK_METHODS[task]:
        return
    other = next(answered for answered in TASK_METHODS[task] if answered is not Method.PREDICT)
    raise ApiError(
        400,
        f"model {model!r} version {version} is {TASK_NOUNS[task]} (task {task.value!r}): it does "
        f"not answer :{method}; use :{other} (or :predict)",
    )


def _scored(answer: ModelAnswer | None, signature: str) -> ModelAnswer:
    """Classify and regress run the raw signature, which always scores (checked at load)."""
    if answer is None:
        raise ValueError(f"signature {signature!r} gave no scores to classify or regress")
    return answer


def _header(headers: Mapping[str, str], lower_name: str) -> str | None:
    getter = getattr(headers, "get", None)
    value = getter(lower_name) if getter else None
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == lower_name), None)
    return value or None

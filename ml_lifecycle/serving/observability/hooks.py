"""The observability hooks around a request, run after its response is written.

The API hands every answered request to `RequestHooks.after_response`: the monitor counts it;
an answered predict/classify/regress (`Prediction`) goes to the prediction log and, when it has a
model answer (a scoring signature's), also feeds the monitor its input rows and its answer,
queues the rows human review flagged or deferred, and is copied to the shadow version if one is
set. What is written (the log record, the queued rows) is what `serving.privacy` lets through
(`observability.privacy`): dropped features left out, hashed ones replaced, in rows, columns and
tf.Examples alike; the monitor and the shadow copy, in memory only, see the request as sent.
`after_shadow` reads a shadow answer with the shadow version's own description and compares it
with the live one where they are comparable (its log record gets the same policy). The
collaborators are typed by what the hooks call on them (`typing.Protocol`), so tests pass
stand-ins.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ml_lifecycle.base.contracts import Task
from ml_lifecycle.base.model_description import ModelDescription
from ml_lifecycle.serving.inference.answers import ModelAnswer, answer_of
from ml_lifecycle.serving.inference.codec import serialized_examples
from ml_lifecycle.serving.observability.alerts import Alert
from ml_lifecycle.serving.observability.log_records import LoggedPrediction
from ml_lifecycle.serving.observability.privacy import FeaturePrivacy
from ml_lifecycle.serving.observability.shadow import ShadowJob, compare
from ml_lifecycle.serving.protocol.methods import Method
from ml_lifecycle.serving.protocol.requests import DecodedRequest
from ml_lifecycle.serving.protocol.responses import (
    RESULT_KEY,
    classification_results,
    regression_results,
)


class MonitorSink(Protocol):
    """What the server records into and reads from the monitor (`observability.monitor.Monitor`)."""

    def record_request(
        self, model: str, version: int | None, route: str, status: int, seconds: float
    ) -> None: ...

    def record_inputs(self, model: str, rows: list[dict[str, object]]) -> None: ...

    def record_outputs(
        self, model: str, version: int, answer: ModelAnswer, deferred: Sequence[bool] | None = None
    ) -> None: ...

    def record_shadow(
        self, model: str, live_version: int, shadow_version: int, agree: bool, abs_diff: float
    ) -> None: ...

    def record_shadow_not_comparable(
        self, model: str, live_version: int, shadow_version: int, rows: int
    ) -> None: ...

    def record_log_stats(self, stats: dict[str, int]) -> None: ...

    def prometheus_text(self) -> str: ...

    def evaluate_alerts(self) -> list[Alert]: ...


class PredictionLogSink(Protocol):
    """The prediction log writer (`observability.prediction_log.PredictionLogWriter`)."""

    def submit(self, record: LoggedPrediction) -> None: ...

    def stats(self) -> dict[str, int]: ...

    def close(self, timeout: float = ...) -> None: ...


class ReviewSink(Protocol):
    """The human review queue (`serving.review.ReviewQueue`)."""

    def add(
        self,
        model: str,
        version: int,
        features: dict,
        score: float,
        deferred: bool,
        task: Task = Task.BINARY,
        top_class: str | None = None,
    ) -> int: ...

    def close(self) -> None: ...


class Collaborators(Protocol):
    """What the hooks read from the API's services (`http.api.ServingServices`) when they run."""

    monitor: MonitorSink | None
    prediction_log: PredictionLogSink | None
    review_queue: ReviewSink | None
    shadow: Callable[[ShadowJob], None] | None
    monitor_rows_per_request: int
    privacy: FeaturePrivacy | None


@dataclass(frozen=True)
class Prediction:
    """One answered predict/classify/regress, as the hooks after the response see it."""

    model: str
    version: int
    route: str
    shadow_version: int | None
    request: DecodedRequest
    outputs: dict[str, np.ndarray]
    # The scores read by the task; None for a signature that does not score (`transform_features`).
    answer: ModelAnswer | None
    review: dict[str, list[bool]] | None  # the response's `review` marks, when review is on
    method: Method


class RequestHooks:
    """Runs the bookkeeping of answered requests against the services' current collaborators."""

    def __init__(self, services: Collaborators) -> None:
        self._services = services

    def after_response(
        self,
        model: str,
        version: int | None,
        route: str,
        status: int,
        seconds: float,
        prediction: Prediction | None,
    ) -> None:
        monitor = self._services.monitor
        if monitor is not None:
            monitor.record_request(model, version, route, status, seconds)
        if prediction is not None:
            self._after_prediction(prediction, seconds * 1000)

    def _after_prediction(self, prediction: Prediction, latency_ms: float) -> None:
        services = self._services
        request, answer, review = prediction.request, prediction.answer, prediction.review
        # A signature that does not score is not live prediction traffic (its examples may carry
        # the label, as TFMA's do): it is logged, and nothing else.
        if services.monitor is not None and answer is not None:
            services.monitor.record_inputs(
                prediction.model, request.input_rows(services.monitor_rows_per_request)
            )
            services.monitor.record_outputs(
                prediction.model, prediction.version, answer, review["deferred"] if review else None
            )
        if services.review_queue is not None and review is not None and answer is not None:
            self._queue_for_review(prediction, answer, review)
        if services.prediction_log is not None:
            services.prediction_log.submit(
                logged_prediction(
                    prediction.model,
                    prediction.version,
                    request,
                    prediction.outputs,
                    answer,
                    prediction.method,
                    prediction.route,
                    latency_ms,
                    services.privacy,
                )
            )
        if services.shadow is not None and prediction.shadow_version is not None and answer is not None:
            services.shadow(
                ShadowJob(
                    prediction.model,
                    prediction.version,
                    prediction.shadow_version,
                    request,
                    answer,
                    prediction.method,
                )
            )

    def _queue_for_review(
        self, prediction: Prediction, answer: ModelAnswer, review: dict[str, list[bool]]
    ) -> None:
        """Flagged and deferred rows, with the number the rule judged and (multiclass) the class."""
        request, privacy = prediction.request, self._services.privacy
        rows = request.input_rows(request.rows)
        for index, row in enumerate(rows):
            deferred = review["deferred"][index]
            if review["flagged"][index] or deferred:
                self._services.review_queue.add(
                    prediction.model,
                    prediction.version,
                    row if privacy is None else privacy.apply_row(row, request.kinds),
                    float(answer.score[index]),
                    bool(deferred),
                    task=answer.task,
                    top_class=answer.top_class(index) if answer.task is Task.MULTICLASS else None,
                )

    def after_shadow(
        self,
        job: ShadowJob,
        outputs: dict[str, np.ndarray],
        description: ModelDescription,
        latency_ms: float,
    ) -> None:
        """A shadow answer, read with the shadow version's own description: compared row by row
        with the live answer (`shadow.compare`) for the monitor, or counted as not comparable
        when the versions' tasks or classes differ; logged with route "shadow"."""
        shadow = answer_of(outputs, description, job.request.signature)
        if shadow is None:
            raise ValueError(f"signature {job.request.signature!r} gave the shadow version no scores")
        monitor, prediction_log = self._services.monitor, self._services.prediction_log
        if monitor is not None:
            comparison = compare(job.live, shadow)
            if comparison is None:
                monitor.record_shadow_not_comparable(
                    job.model, job.live_version, job.shadow_version, job.live.rows
                )
            else:
                agreements, differences = comparison
                for agree, difference in zip(agreements.tolist(), differences.tolist(), strict=True):
                    monitor.record_shadow(job.model, job.live_version, job.shadow_version, agree, difference)
        if prediction_log is not None:
            prediction_log.submit(
                logged_prediction(
                    job.model,
                    job.shadow_version,
                    job.request,
                    outputs,
                    shadow,
                    job.method,
                    "shadow",
                    latency_ms,
                    self._services.privacy,
                )
            )


def logged_prediction(
    model: str,
    version: int,
    request: DecodedRequest,
    outputs: dict[str, np.ndarray],
    answer: ModelAnswer | None,
    method: Method,
    route_name: str,
    latency_ms: float,
    privacy: FeaturePrivacy | None = None,
) -> LoggedPrediction:
    """The prediction log's record of one answer (a live one, or a shadow copy's), its inputs as
    `privacy` lets them be written."""
    examples_record = method in (Method.CLASSIFY, Method.REGRESS)
    if examples_record and answer is None:
        raise ValueError(f"a {method} record needs the model's answer (signature {request.signature!r})")
    inputs = logged_inputs(request, examples_record, privacy)
    if examples_record:
        results = classification_results(answer) if method == Method.CLASSIFY else regression_results(answer)
        logged_outputs = {RESULT_KEY: results}
    elif answer is None and privacy is not None:
        # A signature that does not score (transform_features) answers with transformed inputs,
        # which invert back to the values the policy keeps out (a z-score, a vocabulary index).
        logged_outputs = {}
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


def logged_inputs(
    request: DecodedRequest, as_examples: bool, privacy: FeaturePrivacy | None
) -> dict[str, list]:
    """A record's inputs: the request's columns, or {"examples": serialized tf.Examples} (the
    client's own, or, as TF Serving's ClassificationRequest and RegressionRequest carry them,
    its rows encoded), with `privacy` applied."""
    if request.examples is not None:
        # A predict on serving_default: its values are these same examples.
        examples = request.examples if privacy is None else privacy.apply_examples(request.examples)
        return {"examples": examples}
    if privacy is None:
        return {"examples": request.as_examples()} if as_examples else request.values
    values = privacy.apply_columns(request.values, request.kinds)
    if not as_examples:
        return values
    # Encoded after the policy, so a dropped or hashed value never reaches an example.
    return {"examples": serialized_examples(values, privacy.column_kinds(request.kinds or {}), request.rows)}

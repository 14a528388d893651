"""TF Serving's REST methods (`/v1/models/<name>:<method>`), and which a model's task answers."""

from __future__ import annotations

from ml_lifecycle.base.contracts import NamedValue, Task


class Method(NamedValue):
    """A model route's verb; also the prediction log's kind of record (`predict_log`, ...)."""

    PREDICT = "predict"  # the signature's outputs as they are
    CLASSIFY = "classify"  # every class with its score
    REGRESS = "regress"  # one value per example


# TF Serving: regress on a classifier is an error, and classify on a regression model.
TASK_METHODS: dict[Task, tuple[Method, ...]] = {
    Task.BINARY: (Method.PREDICT, Method.CLASSIFY),
    Task.MULTICLASS: (Method.PREDICT, Method.CLASSIFY),
    Task.REGRESSION: (Method.PREDICT, Method.REGRESS),
}

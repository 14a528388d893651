"""Shadow answers compared with the live ones, as each task defines agreement; each read with its
own version's description, classes lined up by label."""

from __future__ import annotations

import numpy as np
import pytest

from ml_lifecycle.base.contracts import Task
from ml_lifecycle.serving.inference.answers import ModelAnswer
from ml_lifecycle.serving.observability.shadow import compare


def test_binary_answers_agree_on_the_same_side_of_one_half():
    live = ModelAnswer.of(Task.BINARY, [0.2, 0.7, 0.49])
    agree, difference = compare(live, ModelAnswer.of(Task.BINARY, [[0.4], [0.45], [0.5]]))
    assert agree.tolist() == [True, False, False]
    assert difference == pytest.approx([0.2, 0.25, 0.01])


def test_multiclass_answers_agree_on_the_top_class_and_differ_by_total_variation():
    classes = ("a", "b", "c")
    live = ModelAnswer.of(Task.MULTICLASS, [[0.6, 0.3, 0.1], [0.2, 0.5, 0.3]], classes)
    shadow = ModelAnswer.of(Task.MULTICLASS, [[0.5, 0.4, 0.1], [0.5, 0.2, 0.3]], classes)
    agree, difference = compare(live, shadow)
    assert agree.tolist() == [True, False]
    assert difference == pytest.approx([0.1, 0.3])


def test_multiclass_classes_are_lined_up_by_label_not_by_position():
    live = ModelAnswer.of(Task.MULTICLASS, [[0.6, 0.3, 0.1], [0.2, 0.5, 0.3]], ("a", "b", "c"))
    # The same probabilities as the live ones, the shadow version listing its classes as c, a, b.
    shadow = ModelAnswer.of(Task.MULTICLASS, [[0.1, 0.6, 0.3], [0.3, 0.2, 0.5]], ("c", "a", "b"))
    agree, difference = compare(live, shadow)
    assert agree.tolist() == [True, True]
    assert difference == pytest.approx([0.0, 0.0])


def test_regression_answers_agree_within_five_percent_of_the_live_value():
    live = ModelAnswer.of(Task.REGRESSION, [100.0, 100.0, 0.0])
    agree, difference = compare(live, ModelAnswer.of(Task.REGRESSION, [[104.0], [106.0], [0.0]]))
    assert agree.tolist() == [True, False, True]
    assert difference == pytest.approx([4.0, 6.0, 0.0])


@pytest.mark.parametrize(
    "shadow",
    [
        ModelAnswer.of(Task.MULTICLASS, [[0.2, 0.3, 0.5]], ("a", "b", "c")),  # another class set
        ModelAnswer.of(Task.MULTICLASS, [[0.2, 0.8]], ("a", "z")),
        ModelAnswer.of(Task.BINARY, [0.7]),  # another task, same width
        ModelAnswer.of(Task.REGRESSION, [[0.7]]),
    ],
)
def test_answers_of_another_task_or_class_set_are_not_comparable(shadow):
    live = ModelAnswer.of(Task.MULTICLASS, [[0.6, 0.4]], ("a", "b"))
    assert compare(live, shadow) is None
    assert compare(ModelAnswer.of(Task.BINARY, [0.6]), ModelAnswer.of(Task.REGRESSION, [0.6])) is None


def test_a_shadow_answer_with_other_rows_is_an_error():
    live = ModelAnswer.of(Task.BINARY, [0.6, 0.4])
    with pytest.raises(ValueError, match="shadow version answered 1 rows"):
        compare(live, ModelAnswer.of(Task.BINARY, [0.6]))


class _Recorder:
    """Stands in for the monitor and the prediction log: records each call by name."""

    def __init__(self):
        self.calls: list[tuple[str, tuple]] = []

    def __getattr__(self, name):
        return lambda *args, **kwargs: self.calls.append((name, args))

    def named(self, name):
        return [args for call, args in self.calls if call == name]


class _ShadowVersion:
    """A shadow version whose description lists its classes as it likes."""

    def __init__(self, classes, scores):
        from ml_lifecycle.base.model_description import ModelDescription

        self.description = ModelDescription(Task.MULTICLASS, "species", classes)
        self._scores = np.array(scores, dtype=np.float32)

    def run(self, signature, columns):
        return {"outputs": self._scores}


def _shadowed(shadow_version, method="classify"):
    """Runs one shadow job through the worker into the hooks; (monitor, prediction log) calls."""
    from ml_lifecycle.base.contracts import RAW_SIGNATURE
    from ml_lifecycle.serving.http.api import ServingServices
    from ml_lifecycle.serving.observability.hooks import RequestHooks
    from ml_lifecycle.serving.observability.shadow import ShadowJob, ShadowWorker
    from ml_lifecycle.serving.protocol.methods import Method
    from ml_lifecycle.serving.protocol.requests import DecodedRequest

    monitor, log = _Recorder(), _Recorder()
    hooks = RequestHooks(ServingServices(monitor=monitor, prediction_log=log))
    worker = ShadowWorker(lambda model, version: shadow_version, hooks.after_shadow, max_queue=4)
    columns, values = {"mass": np.array([1.0, 2.0])}, {"mass": [1.0, 2.0]}
    request = DecodedRequest(RAW_SIGNATURE, columns, values, 2, True, kinds={"mass": "f"})
    live = ModelAnswer.of(Task.MULTICLASS, [[0.6, 0.3, 0.1], [0.2, 0.5, 0.3]], ("a", "b", "c"))
    worker.start()
    worker.submit(ShadowJob("penguins", 2, 1, request, live, Method(method)))
    worker.stop()
    assert worker.counts == {"submitted": 1, "done": 1, "dropped": 0, "errors": 0}
    return monitor, log


def test_a_shadow_answer_is_read_with_the_shadow_versions_own_classes():
    monitor, log = _shadowed(_ShadowVersion(("c", "a", "b"), [[0.1, 0.6, 0.3], [0.3, 0.2, 0.5]]))
    assert monitor.named("record_shadow") == [
        ("penguins", 2, 1, True, pytest.approx(0.0, abs=1e-6)),
        ("penguins", 2, 1, True, pytest.approx(0.0, abs=1e-6)),
    ]
    ((record,),) = log.named("submit")
    assert record.route == "shadow" and record.version == 1
    # The shadow's log names its own classes, in its own order.
    assert [[label for label, _ in row] for row in record.outputs["result"]] == [["c", "a", "b"]] * 2


def test_a_shadow_version_with_other_classes_is_counted_not_comparable():
    monitor, log = _shadowed(_ShadowVersion(("a", "b", "z"), [[0.6, 0.3, 0.1], [0.2, 0.5, 0.3]]))
    assert monitor.named("record_shadow") == []
    assert monitor.named("record_shadow_not_comparable") == [("penguins", 2, 1, 2)]
    assert len(log.named("submit")) == 1  # still logged


def test_the_monitor_exports_shadow_rows_not_compared():
    from prometheus_client.parser import text_string_to_metric_families

    from ml_lifecycle.config.serving import MonitoringConfig
    from ml_lifecycle.serving.observability.monitor import Monitor

    monitor = Monitor(MonitoringConfig(), None)
    monitor.record_shadow_not_comparable("penguins", 2, 1, 3)
    monitor.record_shadow_not_comparable("penguins", 2, 1, 2)
    families = {f.name: f for f in text_string_to_metric_families(monitor.prometheus_text())}
    (sample,) = families["lifecycle_serving_shadow_not_comparable"].samples
    assert sample.labels == {"model": "penguins", "live_version": "2", "shadow_version": "1"}
    assert sample.value == 5

"""Shadow answers compared with the live ones, as each task defines agreement; each read with its
own version's description, classes lined up by label."""

from __future__ import annotations

import numpy as np
import pytest

from ml_lifecycle.base.contracts import RAW_SIGNATURE, SERVING_SIGNATURE, Task
from ml_lifecycle.base.model_description import ModelDescription
from ml_lifecycle.config.serving import RolloutConfig
from ml_lifecycle.serving.inference.answers import ModelAnswer
from ml_lifecycle.serving.observability.shadow import ShadowJob, ShadowWorker, compare
from ml_lifecycle.serving.protocol.methods import Method
from ml_lifecycle.serving.protocol.requests import DecodedRequest


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


def _job(request):
    return ShadowJob("taxi", 2, 1, request, ModelAnswer.of(Task.BINARY, [0.5] * request.rows), Method.PREDICT)


def _raw_request(columns):
    rows = len(next(iter(columns.values())))
    return DecodedRequest(RAW_SIGNATURE, columns, {name: list(c) for name, c in columns.items()}, rows, True)


def _examples_request(examples):
    column = np.array(examples, dtype=object)
    return DecodedRequest(
        SERVING_SIGNATURE, {"examples": column}, {"examples": examples}, len(examples), True, examples
    )


class _Binary:
    """A binary version answering 0.5 to every row."""

    description = ModelDescription()

    def run(self, signature, columns):
        return {"outputs": np.full((len(next(iter(columns.values()))), 1), 0.5, dtype=np.float32)}


def test_shadow_jobs_past_the_byte_bound_are_dropped_and_counted():
    observed = []
    worker = ShadowWorker(lambda model, version: _Binary(), lambda *args: observed.append(args), 100, 1024)
    job = _job(_raw_request({"fare": np.zeros(100, dtype=np.float32)}))  # 400 bytes
    for _ in range(3):
        worker.submit(job)
    # The count bound (100) is far; the third job's bytes would make 1200 of 1024.
    assert worker.counts == {"submitted": 2, "done": 0, "dropped": 1, "errors": 0}
    assert worker.queued_bytes == 800
    worker.start()
    worker.stop()
    assert len(observed) == 2 and worker.queued_bytes == 0
    assert worker.counts == {"submitted": 2, "done": 2, "dropped": 1, "errors": 0}


def test_text_and_serialized_examples_count_by_their_length():
    worker = ShadowWorker(lambda model, version: _Binary(), lambda *args: None, 100, 1024)
    # A few pointers of array, but 2 x 450 bytes of examples: a second copy would pass 1024.
    examples = _job(_examples_request([b"e" * 450, b"f" * 450]))
    worker.submit(examples)
    worker.submit(examples)
    text = _job(_raw_request({"payment": np.array(["x" * 600], dtype=object)}))
    worker.submit(text)
    assert worker.counts["submitted"] == 1 and worker.counts["dropped"] == 2
    assert 900 < worker.queued_bytes < 1024


def test_the_job_count_still_bounds_the_queue():
    worker = ShadowWorker(lambda model, version: _Binary(), lambda *args: None, max_queue=2)
    job = _job(_raw_request({"fare": np.zeros(1, dtype=np.float32)}))
    for _ in range(3):
        worker.submit(job)
    assert worker.counts["submitted"] == 2 and worker.counts["dropped"] == 1 and worker.queued_bytes == 8


def test_by_default_the_byte_bound_is_the_configs():
    worker = ShadowWorker(lambda model, version: _Binary(), lambda *args: None, max_queue=2)
    assert worker.max_queue_bytes == RolloutConfig().shadow_queue_bytes == 64 * 1024 * 1024

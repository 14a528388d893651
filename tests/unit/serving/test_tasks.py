"""The server on tiny SavedModels of each task, exported as the Trainer exports them: both
scoring signatures return `outputs`, the raw signature's arguments are internal names, a
multiclass model adds `transform_features`, and a model description beside the variables says
the task, the classes and the input names."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import tensorflow as tf

from ml_lifecycle.base.contracts import SCORES_OUTPUT, TRANSFORM_FEATURES_SIGNATURE, ArtifactFile, Task
from ml_lifecycle.base.model_description import ModelDescription
from ml_lifecycle.base.names import internal_name
from ml_lifecycle.config.serving import (
    HumanReviewConfig,
    MonitoringConfig,
    PredictionLogConfig,
    VersionPolicyConfig,
)
from ml_lifecycle.serving.http.api import ServedModel, ServingApi, ServingServices
from ml_lifecycle.serving.inference.repository import ModelRepository
from ml_lifecycle.serving.observability.log_records import log_results, rows_from_prediction_logs
from ml_lifecycle.serving.observability.monitor import Monitor
from ml_lifecycle.serving.observability.prediction_log import PredictionLogWriter, read_prediction_logs
from ml_lifecycle.serving.protocol.values import FeatureRules
from ml_lifecycle.serving.review import ReviewQueue
from ml_lifecycle.serving.router import Router

MASS = "Body Mass (g)"  # not an identifier: the raw signature's argument is internal_name(MASS)
SPECIES = ("Adelie", "Chinstrap", "Gentoo")


def _outputs(task: Task, mass, island):
    """[batch, K] from [batch] columns: the rule the tests recompute with numpy (`_expected`)."""
    dream = tf.cast(tf.equal(island, "Dream"), tf.float32)
    kilos = mass / 1000.0
    if task is Task.BINARY:
        return tf.sigmoid(kilos - 4.0 + dream)[:, None]
    if task is Task.MULTICLASS:
        return tf.nn.softmax(tf.stack([kilos, 2.0 * kilos - 4.0, 3.0 * dream], axis=1))
    return (0.5 * mass + 10.0 * dream)[:, None]


def _expected(task: Task, mass: float, island: str) -> np.ndarray:
    dream, kilos = float(island == "Dream"), mass / 1000.0
    if task is Task.BINARY:
        return np.array([1 / (1 + np.exp(-(kilos - 4.0 + dream)))])
    if task is Task.MULTICLASS:
        logits = np.array([kilos, 2.0 * kilos - 4.0, 3.0 * dream])
        return np.exp(logits) / np.exp(logits).sum()
    return np.array([0.5 * mass + 10.0 * dream])


def write_description(directory, description: ModelDescription) -> None:
    """As the Trainer writes it: `assets.extra/ml_lifecycle_model.json` beside the variables."""
    path = directory / ArtifactFile.MODEL_DESCRIPTION
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(description.to_json(), encoding="utf-8")


def export_model(
    directory, task: Task, described: bool = True, argument: str | None = None, output: str = SCORES_OUTPUT
) -> None:
    """A SavedModel with `serving_default` (tf.Examples named by column) and `serving_raw`
    (arguments `internal_name(column)`, or `argument` for the mass column), both answering under
    `output`, and for multiclass `transform_features` (tf.Examples -> two features); with its
    description."""
    mass_argument = argument or internal_name(MASS)
    features = {
        MASS: tf.io.FixedLenFeature([], tf.float32, default_value=0.0),
        "island": tf.io.FixedLenFeature([], tf.string, default_value=""),
    }

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_examples(examples):
        parsed = tf.io.parse_example(examples, features)
        return {output: _outputs(task, parsed[MASS], parsed["island"])}

    raw_spec = {
        mass_argument: tf.TensorSpec([None], tf.float32, name=mass_argument),
        "island": tf.TensorSpec([None], tf.string, name="island"),
    }

    @tf.function(input_signature=[raw_spec])
    def serve_raw(columns):
        return {output: _outputs(task, columns[mass_argument], columns["island"])}

    signatures = {"serving_default": serve_examples, "serving_raw": serve_raw}
    if task is Task.MULTICLASS:

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def transform_features(examples):
            parsed = tf.io.parse_example(examples, features)
            dream = tf.cast(tf.equal(parsed["island"], "Dream"), tf.int64)
            return {"mass_xf": parsed[MASS] / 1000.0, "island_xf": dream}

        signatures[TRANSFORM_FEATURES_SIGNATURE] = transform_features
    tf.saved_model.save(tf.Module(), str(directory), signatures=signatures)
    if described:
        description = ModelDescription(
            task=task,
            label="species" if task is Task.MULTICLASS else "label",
            classes=SPECIES if task is Task.MULTICLASS else (),
            input_names={MASS: internal_name(MASS)},
        )
        write_description(directory, description)


@pytest.fixture(scope="module")
def serving_root(tmp_path_factory):
    """One model per task under one serving root (exported once for the module)."""
    root = tmp_path_factory.mktemp("serving")
    for task in Task:
        export_model(root / task.value / "1", task)
    return root


def _served(root, name: str) -> ServedModel:
    repository = ModelRepository(name, root / name, VersionPolicyConfig())
    repository.poll(wait_for_stable_files=False)
    router = Router(name, None)
    router.load(repository.available())
    rules = FeatureRules(required=frozenset({MASS}), ignored=frozenset({"species", "label"}))
    return ServedModel(repository, router, rules)


@pytest.fixture(scope="module")
def models(serving_root):
    return {task.value: _served(serving_root, task.value) for task in Task}


def _api(models, **services) -> ServingApi:
    return ServingApi(models, ServingServices(**services))


def call(api, path, body):
    response = api.handle("POST", path, {}, json.dumps(body).encode())
    if response.after is not None:
        response.after()
    return response.status, json.loads(response.body)


PENGUINS = [{MASS: 3700.0, "island": "Biscoe"}, {MASS: 5200.0, "island": "Dream"}]


def test_multiclass_classify_answers_every_class_with_its_score_labelled_from_classes(models):
    status, body = call(_api(models), "/v1/models/multiclass:classify", {"examples": PENGUINS})
    assert status == 200 and set(body) == {"result"}
    for result, row in zip(body["result"], PENGUINS, strict=True):
        assert [label for label, _ in result] == list(SPECIES)
        assert np.allclose(
            [score for _, score in result], _expected(Task.MULTICLASS, row[MASS], row["island"])
        )


def test_multiclass_predict_answers_the_probabilities_of_every_class_per_row(models):
    status, body = call(_api(models), "/v1/models/multiclass:predict", {"instances": PENGUINS})
    assert status == 200
    expected = [_expected(Task.MULTICLASS, row[MASS], row["island"]) for row in PENGUINS]
    assert np.allclose(body["predictions"], expected) and np.array(body["predictions"]).shape == (2, 3)


def test_regress_answers_one_value_per_example_under_result(models):
    body = {"context": {"island": "Dream"}, "examples": [{MASS: 4000.0}, {MASS: 3000.0, "island": "Biscoe"}]}
    status, answer = call(_api(models), "/v1/models/regression:regress", body)
    assert status == 200 and set(answer) == {"result"}
    assert np.allclose(answer["result"], [2010.0, 1500.0])
    status, answer = call(_api(models), "/v1/models/regression:predict", {"instances": PENGUINS})
    assert status == 200 and np.allclose(answer["predictions"], [[1850.0], [2610.0]])


def test_binary_classify_keeps_its_labels_under_result(models):
    status, body = call(_api(models), "/v1/models/binary:classify", {"examples": PENGUINS})
    assert status == 200 and set(body) == {"result"}
    scores = [_expected(Task.BINARY, row[MASS], row["island"])[0] for row in PENGUINS]
    assert [[label for label, _ in result] for result in body["result"]] == [["0", "1"], ["0", "1"]]
    assert np.allclose([[s for _, s in r] for r in body["result"]], [[1 - p, p] for p in scores])


@pytest.mark.parametrize(
    "model, method, message",
    [
        (
            "regression",
            "classify",
            "is a regression model (task 'regression'): it does not answer :classify; use :regress",
        ),
        (
            "binary",
            "regress",
            "is a binary classifier (task 'binary'): it does not answer :regress; use :classify",
        ),
        (
            "multiclass",
            "regress",
            "is a multiclass classifier (task 'multiclass'): it does not answer :regress",
        ),
    ],
)
def test_a_method_the_task_does_not_answer_is_a_400_naming_the_task(models, model, method, message):
    status, body = call(_api(models), f"/v1/models/{model}:{method}", {"examples": PENGUINS})
    assert status == 400 and message in body["error"]


def test_a_column_that_is_not_an_identifier_is_requested_and_refused_by_its_own_name(models):
    api = _api(models)
    expected = _expected(Task.REGRESSION, 4200.0, "Biscoe")
    for path, body, key in [
        ("/v1/models/regression:predict", {"instances": [{MASS: 4200, "island": "Biscoe"}]}, "predictions"),
        ("/v1/models/regression:predict", {"inputs": {MASS: [4200], "island": ["Biscoe"]}}, "outputs"),
        ("/v1/models/regression:regress", {"examples": [{MASS: 4200, "island": "Biscoe"}]}, "result"),
    ]:
        status, answer = call(api, path, body)
        assert status == 200, answer
        assert np.allclose(np.ravel(answer[key]), expected)
    status, answer = call(api, "/v1/models/regression:predict", {"instances": [{MASS: "heavy"}]})
    assert status == 400 and f"instances[0]: feature '{MASS}': expected a number" in answer["error"]
    status, answer = call(api, "/v1/models/regression:regress", {"examples": [{"island": "Dream"}]})
    assert status == 400 and f"feature '{MASS}': missing value" in answer["error"]
    status, answer = call(api, "/v1/models/regression:predict", {"inputs": {MASS: 4200, "island": ["x"]}})
    assert status == 400 and f"['{MASS}'] must be lists" in answer["error"]
    # The argument's internal name is not a column a request may use.
    status, answer = call(api, "/v1/models/regression:predict", {"instances": [{internal_name(MASS): 1.0}]})
    assert status == 400 and f"the model takes ['{MASS}', 'island']" in answer["error"]


def _b64_example(row: dict) -> str:
    """A penguin row as a serialized tf.Example in TF Serving's `{"b64": ...}` text."""
    import base64

    example = tf.train.Example()
    example.features.feature[MASS].float_list.value.append(row[MASS])
    example.features.feature["island"].bytes_list.value.append(row["island"].encode())
    return base64.b64encode(example.SerializeToString()).decode()


def test_serialized_examples_name_the_column_as_the_data_does(models):
    encoded = _b64_example({MASS: 5200.0, "island": "Dream"})
    status, body = call(_api(models), "/v1/models/multiclass:predict", {"instances": [{"b64": encoded}]})
    assert status == 200 and np.allclose(body["predictions"], [_expected(Task.MULTICLASS, 5200.0, "Dream")])


def test_a_model_without_a_description_is_binary_with_inputs_named_as_its_columns(tmp_path):
    export_model(tmp_path / "old" / "1", Task.BINARY, described=False, argument="mass")
    served = _served(tmp_path, "old")
    api = ServingApi({"old": served}, ServingServices())
    status, body = call(api, "/v1/models/old:classify", {"examples": [{"mass": 4000.0, "island": "Dream"}]})
    assert status == 200
    assert np.allclose(
        [s for _, s in body["result"][0]], [1 - 1 / (1 + np.exp(-1.0)), 1 / (1 + np.exp(-1.0))]
    )
    status, body = call(api, "/v1/models/old:regress", {"examples": [{"mass": 4000.0}]})
    assert status == 400 and "binary classifier" in body["error"]


def test_a_description_naming_an_argument_the_signature_lacks_fails_the_load(tmp_path):
    export_model(tmp_path / "broken" / "1", Task.REGRESSION, argument="mass")
    repository = ModelRepository("broken", tmp_path / "broken", VersionPolicyConfig())
    assert repository.poll(wait_for_stable_files=False) == []
    (record,) = repository.statuses()
    assert record.state == "END"
    assert f"maps column '{MASS}' to argument '{internal_name(MASS)}'" in record.error_message


def test_a_multiclass_description_whose_classes_do_not_fit_the_outputs_fails_the_load(tmp_path):
    directory = tmp_path / "wrong" / "1"
    export_model(directory, Task.MULTICLASS)
    write_description(
        directory,
        ModelDescription(Task.MULTICLASS, "species", ("Adelie", "Gentoo"), {MASS: internal_name(MASS)}),
    )
    repository = ModelRepository("wrong", tmp_path / "wrong", VersionPolicyConfig())
    repository.poll(wait_for_stable_files=False)
    (record,) = repository.statuses()
    assert record.state == "END" and "answers 3 values per row" in record.error_message


def test_classify_and_regress_are_logged_as_tf_serving_logs_and_read_back(models, tmp_path):
    writer = PredictionLogWriter(PredictionLogConfig(), tmp_path)
    api = _api(models, prediction_log=writer)
    call(api, "/v1/models/multiclass:classify", {"examples": PENGUINS})
    call(api, "/v1/models/regression:regress", {"examples": PENGUINS})
    writer.close()
    classify, regress = list(read_prediction_logs(tmp_path))
    assert classify.WhichOneof("log_type") == "classify_log"
    assert regress.WhichOneof("log_type") == "regress_log"
    assert regress.regress_log.request.model_spec.name == "regression"
    classified = log_results(classify)["result"]
    assert [[label for label, _ in row] for row in classified] == [list(SPECIES)] * 2
    assert np.allclose(
        [[score for _, score in row] for row in classified],
        [_expected(Task.MULTICLASS, row[MASS], row["island"]) for row in PENGUINS],
    )
    assert np.allclose(log_results(regress)["result"], [1850.0, 2610.0])
    # The logged tf.Examples name the columns as the requests did: rows for a span.
    assert list(rows_from_prediction_logs([regress])) == PENGUINS


def test_multiclass_review_defers_low_confidence_and_queues_the_top_class(models, tmp_path):
    queue = ReviewQueue(tmp_path / "queue.sqlite")
    review = HumanReviewConfig(automation="partial", min_confidence=0.6)
    api = _api(models, review_config=review, review_queue=queue)
    # 3700 g on Biscoe: probabilities ~ (0.57, 0.42, 0.01), unsure; 7000 g: Chinstrap ~ 0.95.
    rows = [{MASS: 3700.0, "island": "Biscoe"}, {MASS: 7000.0, "island": "Biscoe"}]
    confident = _expected(Task.MULTICLASS, 7000.0, "Biscoe")
    unsure = _expected(Task.MULTICLASS, 3700.0, "Biscoe")
    assert unsure.max() < 0.6 < confident.max()  # the fixture's premise
    status, body = call(api, "/v1/models/multiclass:classify", {"examples": rows})
    assert status == 200 and body["review"]["deferred"] == [True, False]
    (item,) = queue.pending()
    assert (item.task, item.top_class) == (Task.MULTICLASS, SPECIES[int(unsure.argmax())])
    assert item.top_probability == pytest.approx(unsure.max(), abs=1e-6)
    assert item.features == rows[0]


def test_regression_review_without_a_band_defers_nothing_and_says_so_once(models, tmp_path, caplog):
    queue = ReviewQueue(tmp_path / "queue.sqlite")
    api = _api(models, review_config=HumanReviewConfig(automation="partial"), review_queue=queue)
    with caplog.at_level(logging.WARNING, logger="ml_lifecycle.serving.review_rule"):
        for _ in range(3):
            status, body = call(api, "/v1/models/regression:regress", {"examples": PENGUINS})
            assert status == 200 and body["review"]["deferred"] == [False, False]
    warnings = [r.getMessage() for r in caplog.records if "value_band" in r.getMessage()]
    assert len(warnings) == 1 and "'regression'" in warnings[0]
    assert queue.pending() == []
    banded = _api(
        models,
        review_config=HumanReviewConfig(automation="partial", value_band=(2000, 3000)),
        review_queue=queue,
    )
    status, body = call(banded, "/v1/models/regression:regress", {"examples": PENGUINS})
    assert body["review"]["deferred"] == [False, True]  # 1850 outside, 2610 inside
    (item,) = queue.pending()
    assert (item.task, item.top_class, item.score) == (Task.REGRESSION, None, pytest.approx(2610.0))


def test_each_task_exports_its_output_metrics_as_valid_prometheus_text(models):
    from prometheus_client.parser import text_string_to_metric_families

    monitor = Monitor(MonitoringConfig(window=4), None)
    api = _api(models, monitor=monitor)
    call(api, "/v1/models/binary:classify", {"examples": PENGUINS})
    call(api, "/v1/models/multiclass:classify", {"examples": PENGUINS})
    for _ in range(2):  # 4 predictions: the window, so the learned buckets are chosen
        call(api, "/v1/models/regression:regress", {"examples": PENGUINS})
    families = {f.name: f for f in text_string_to_metric_families(monitor.prometheus_text())}
    p = "lifecycle_serving"

    def samples(family, name, **labels):
        return [
            s.value
            for s in families[f"{p}_{family}"].samples
            if s.name == f"{p}_{name}" and all(s.labels.get(k) == v for k, v in labels.items())
        ]

    assert samples("score", "score_count", model="binary") == [2]
    assert samples("score", "score_count", model="multiclass") == []
    for index, species in enumerate(SPECIES):
        assert samples(
            "class_probability", "class_probability_count", model="multiclass", **{"class": species}
        ) == [2]
        total = sum(_expected(Task.MULTICLASS, r[MASS], r["island"])[index] for r in PENGUINS)
        assert samples("class_probability", "class_probability_sum", **{"class": species}) == [
            pytest.approx(total, abs=1e-5)
        ]
    tops = [SPECIES[int(_expected(Task.MULTICLASS, r[MASS], r["island"]).argmax())] for r in PENGUINS]
    for species in set(tops):
        assert samples("predicted_class", "predicted_class_total", **{"class": species}) == [
            tops.count(species)
        ]
    assert samples("prediction", "prediction_count", model="regression") == [4]
    assert samples("prediction", "prediction_sum", model="regression") == [pytest.approx(2 * (1850 + 2610))]
    assert samples("prediction", "prediction_bucket", model="regression", le="+Inf") == [4]
    # Mean of the top probability for multiclass, of the value for regression.
    tops_mean = np.mean([_expected(Task.MULTICLASS, r[MASS], r["island"]).max() for r in PENGUINS])
    assert monitor.metric_value("score_mean", "multiclass")[0] == pytest.approx(tops_mean, abs=1e-6)
    assert monitor.metric_value("score_mean", "regression") == (pytest.approx(2230.0), 4)


def test_warmup_sends_the_warmup_examples_through_the_raw_signature_by_column(tmp_path):
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    directory = tmp_path / "warm" / "1"
    export_model(directory, Task.MULTICLASS)
    examples = []
    for row in PENGUINS:
        example = tf.train.Example()
        example.features.feature[MASS].float_list.value.append(row[MASS])
        example.features.feature["island"].bytes_list.value.append(row["island"].encode())
        examples.append(example.SerializeToString())
    request = predict_pb2.PredictRequest(inputs={"examples": tf.make_tensor_proto(examples, dtype=tf.string)})
    warmup_file = directory / ArtifactFile.WARMUP_REQUESTS
    with tf.io.TFRecordWriter(str(warmup_file)) as writer:
        writer.write(prediction_log_pb2.PredictionLog(predict_log={"request": request}).SerializeToString())
    repository = ModelRepository("warm", tmp_path / "warm", VersionPolicyConfig())
    # Loads only if the raw signature, fed the examples' columns under its argument names,
    # answers what serving_default answers.
    assert repository.poll(wait_for_stable_files=False) == [1], repository.statuses()[0].error_message


def _samples(monitor) -> dict[str, list[tuple[dict, float]]]:
    """Family -> its samples as (model and status_class labels, value), bucket and sum lines left out."""
    from prometheus_client.parser import text_string_to_metric_families

    return {
        family.name: [
            ({k: v for k, v in s.labels.items() if k in ("model", "status_class")}, s.value)
            for s in family.samples
            if not s.name.endswith(("_bucket", "_sum", "_created"))
        ]
        for family in text_string_to_metric_families(monitor.prometheus_text())
    }


def test_predict_on_transform_features_answers_its_outputs_and_books_no_answer(models, tmp_path):
    monitor = Monitor(MonitoringConfig(window=4), None)
    queue = ReviewQueue(tmp_path / "queue.sqlite")
    writer = PredictionLogWriter(PredictionLogConfig(), tmp_path / "logs")
    api = _api(
        models,
        monitor=monitor,
        review_config=HumanReviewConfig(automation="assist"),
        review_queue=queue,
        prediction_log=writer,
    )
    examples = [{"b64": _b64_example(row)} for row in PENGUINS]
    status, body = call(
        api,
        "/v1/models/multiclass:predict",
        {"signature_name": TRANSFORM_FEATURES_SIGNATURE, "instances": examples},
    )
    assert status == 200, body
    # TF Serving's row shape for several outputs: one object per row, no `review` marks.
    assert body == {
        "predictions": [
            {"island_xf": 0, "mass_xf": pytest.approx(3.7)},
            {"island_xf": 1, "mass_xf": pytest.approx(5.2)},
        ]
    }
    # The same rows with the input named, as TF Serving also takes them.
    named = [{"examples": example} for example in examples]
    status, again = call(
        api,
        "/v1/models/multiclass:predict",
        {"signature_name": TRANSFORM_FEATURES_SIGNATURE, "instances": named},
    )
    assert (status, again) == (200, body)
    status, body = call(
        api,
        "/v1/models/multiclass:predict",
        {"signature_name": TRANSFORM_FEATURES_SIGNATURE, "inputs": {"examples": examples}},
    )
    assert status == 200 and body == {
        "outputs": {"island_xf": [0, 1], "mass_xf": [pytest.approx(3.7), pytest.approx(5.2)]}
    }
    writer.close()
    # Counted as requests; no input rows, class probabilities or queued items.
    samples = _samples(monitor)
    assert samples["lifecycle_serving_requests"] == [({"status_class": "2xx", "model": "multiclass"}, 3)]
    assert samples["lifecycle_serving_input_rows"] == []
    assert samples["lifecycle_serving_class_probability"] == []
    assert samples["lifecycle_serving_predicted_class"] == []
    assert queue.pending() == []
    logs = list(read_prediction_logs(tmp_path / "logs"))
    assert [log.log_metadata.model_spec.signature_name for log in logs] == [TRANSFORM_FEATURES_SIGNATURE] * 3
    assert list(rows_from_prediction_logs(logs)) == []  # labelled examples, not predictions


@pytest.mark.parametrize("model, method", [("multiclass", "classify"), ("regression", "regress")])
def test_classify_and_regress_take_serving_default_as_tf_serving_clients_send_it(models, model, method):
    api = _api(models)
    plain = call(api, f"/v1/models/{model}:{method}", {"examples": PENGUINS})
    named = call(
        api, f"/v1/models/{model}:{method}", {"signature_name": "serving_default", "examples": PENGUINS}
    )
    assert named[0] == 200 and named == plain
    status, body = call(
        api, f"/v1/models/{model}:{method}", {"signature_name": "other", "examples": PENGUINS}
    )
    assert status == 400 and "runs the raw-feature signature 'serving_raw', not 'other'" in body["error"]


def test_a_scoring_signature_without_the_scores_output_fails_the_load(tmp_path):
    export_model(tmp_path / "renamed" / "1", Task.REGRESSION, output="predictions")
    repository = ModelRepository("renamed", tmp_path / "renamed", VersionPolicyConfig())
    assert repository.poll(wait_for_stable_files=False) == []
    (record,) = repository.statuses()
    assert record.state == "END" and "has no output 'outputs'" in record.error_message

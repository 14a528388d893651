"""Two taxi spans through the real pipeline: push, serve, lineage, cache, and a bad span."""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest

from tests.e2e.conftest import describe

pytestmark = pytest.mark.e2e


def _examples_from_csv(path, dataset, limit=20):
    """Serialized tf.Examples holding the raw features, as a serving client would send them."""
    import tensorflow as tf

    features = dataset.features
    floats = set(features.numeric + features.bucketized)
    ints = set(features.categorical_int)
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))[:limit]
    serialized = []
    for row in rows:
        feature = {}
        for name in features.all_names():
            value = row[name]
            if name in floats:
                feature[name] = tf.train.Feature(
                    float_list=tf.train.FloatList(value=[float(value)] if value else [])
                )
            elif name in ints:
                feature[name] = tf.train.Feature(
                    int64_list=tf.train.Int64List(value=[int(value)] if value else [])
                )
            else:
                feature[name] = tf.train.Feature(
                    bytes_list=tf.train.BytesList(value=[value.encode()] if value else [])
                )
        serialized.append(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    return serialized


def test_each_span_is_blessed_pushed_and_rows_are_conserved(taxi_config, two_span_runs):
    versions = []
    for outcome in two_span_runs:
        report = describe(taxi_config, outcome)
        assert report.span == outcome.span
        assert sum(report.examples_per_split.values()) == outcome.csv_rows
        assert set(report.examples_per_split) == {"train", "eval"}
        assert report.anomalies == []
        assert report.blessed and report.model_check_passed
        assert report.pushed_version is not None
        versions.append(report.pushed_version)
    assert len(set(versions)) == 2
    served = sorted(p.name for p in (taxi_config.serving_root_path / "taxi").iterdir())
    assert served == sorted(versions)
    second = describe(taxi_config, two_span_runs[1])
    auc = next(m for m in second.metrics if m.name == "auc")
    assert auc.baseline is not None, "the second run must be compared with the first blessed model"


def test_pushed_model_answers_predictions_and_carries_warmup(taxi_config, two_span_runs):
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    report = describe(taxi_config, two_span_runs[-1])
    model = tf.saved_model.load(report.pushed_path)
    serve = model.signatures["serving_default"]
    span_csv = taxi_config.data_root_path / "span-2" / "data.csv"
    examples = _examples_from_csv(span_csv, taxi_config.dataset)
    scores = serve(examples=tf.constant(examples))["outputs"].numpy()
    assert scores.shape == (len(examples), 1)
    assert np.all((scores >= 0) & (scores <= 1))

    warmup = f"{report.pushed_path}/assets.extra/tf_serving_warmup_requests"
    records = list(tf.data.TFRecordDataset(warmup).as_numpy_iterator())
    assert 1 < len(records) <= 1000
    log = prediction_log_pb2.PredictionLog.FromString(records[0])
    assert log.predict_log.request.model_spec.signature_name == "serving_default"


def test_lineage_leads_from_pushed_model_to_the_span_examples(taxi_config, two_span_runs):
    from ml_lifecycle.store.connection import open_store
    from ml_lifecycle.store.queries import upstream_artifacts

    store = open_store(taxi_config.metadata_connection_config())
    report = describe(taxi_config, two_span_runs[-1])
    pushed = report.component("pusher").outputs["pushed_model"][0]
    upstream = upstream_artifacts(store, pushed.id)
    types = {a.type for a in upstream}
    assert {"InfraBlessing", "ModelBlessing", "Model", "TransformGraph", "Examples"} <= types
    span_examples = report.component("example_gen").outputs["examples"][0]
    assert span_examples.properties["span"] == 2
    assert span_examples.id in {a.id for a in upstream}
    # The pushed model was trained on span 2's window (spans 1 and 2 with the default window of
    # 3), as the window resolver chose it.
    model = report.component("trainer").outputs["model"][0]
    trained_on = {
        a.properties.get("span")
        for a in upstream_artifacts(store, model.id)
        if a.type == "Examples" and "span" in a.properties
    }
    window = taxi_config.training.window_spans
    assert trained_on == set(range(max(1, 2 - window + 1), 3))


def test_rerun_with_unchanged_input_is_served_from_cache(taxi_config, two_span_runs):
    from ml_lifecycle.pipeline.runners.local import run_span

    before = sorted(p.name for p in (taxi_config.serving_root_path / "taxi").iterdir())
    forced = run_span(taxi_config, 2, progress=lambda _: None, force=True)
    assert forced.error is None and not forced.up_to_date
    report = describe(taxi_config, forced)
    for component in ("example_gen", "statistics_gen", "transform", "trainer", "evaluator"):
        assert report.component(component).state == "CACHED", component
    # Nothing changed since that run: the next one is answered from its record, without TFX.
    again = run_span(taxi_config, 2, progress=lambda _: None)
    assert again.up_to_date and again.run_id == forced.run_id and again.durations == {}
    after = sorted(p.name for p in (taxi_config.serving_root_path / "taxi").iterdir())
    assert after == before


def test_bad_span_stops_before_trainer_and_a_fixed_rerun_succeeds(taxi_config, two_span_runs):
    from ml_lifecycle.components.anomaly_gate.core import DataAnomaliesError
    from ml_lifecycle.pipeline.runners.local import run_span

    span_csv = taxi_config.data_root_path / "span-3" / "data.csv"
    original = span_csv.with_suffix(".orig")
    shutil.copy(span_csv, original)
    with open(original, newline="") as handle:
        rows = list(csv.DictReader(handle))
    for index, row in enumerate(rows):
        if index % 4 == 0:
            row["payment_type"] = "Bitcoin"  # an unseen category in 25% of rows
    with open(span_csv, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    served_before = sorted(p.name for p in (taxi_config.serving_root_path / "taxi").iterdir())

    outcome = run_span(taxi_config, 3, progress=lambda _: None)

    assert isinstance(outcome.error, DataAnomaliesError)
    assert "payment_type" in str(outcome.error)
    assert outcome.failed_component == "anomaly_gate"
    report = describe(taxi_config, outcome)
    assert report.component("trainer").state == "NOT RUN"
    assert report.pushed_version is None
    served_after = sorted(p.name for p in (taxi_config.serving_root_path / "taxi").iterdir())
    assert served_after == served_before
    # MLMD holds the failed run: the gate's failure, after ExampleGen and StatisticsGen ran anew
    # on span 3 in this run (not served from an earlier run's cache).
    assert report.component("anomaly_gate").state == "FAILED"
    upstream = ("example_gen", "statistics_gen")
    assert {c: report.component(c).state for c in upstream} == dict.fromkeys(upstream, "COMPLETE")

    shutil.move(original, span_csv)
    fixed = run_span(taxi_config, 3, progress=lambda _: None)
    assert fixed.error is None
    assert describe(taxi_config, fixed).component("trainer").state == "COMPLETE"

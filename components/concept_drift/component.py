"""TFX wrapper: scores the new span with the pushed model and compares with its blessing.

Runs in-process on the span's examples (both splits: the pushed model has seen none of them);
no Beam pipeline, so the check costs a model load and one batched prediction.
"""

import glob
import json
import os

import numpy as np
import tensorflow as tf
from ml_lifecycle.components.concept_drift.core import check_concept_drift
from ml_lifecycle.components.spans import artifact_span
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.artifact import Artifact
from tfx.utils import io_utils, path_utils

RESULT_FILE = "concept_drift.json"
# TFMA's metric names for the metrics the check supports.
TFMA_NAMES = {"auc": "auc", "binary_accuracy": "binary_accuracy"}


class ConceptDriftReport(Artifact):
    """The pushed model's metric at blessing vs on a new span; `verdict` says which."""

    TYPE_NAME = "ConceptDriftReport"


def _blessing_metric(evaluation, metric: str) -> float:
    import tensorflow_model_analysis as tfma

    for metrics in tfma.load_metrics(evaluation.uri):
        if metrics.slice_key.single_slice_keys:
            continue
        for entry in metrics.metric_keys_and_values:
            if (
                entry.key.name == TFMA_NAMES[metric]
                and not entry.key.is_diff
                and entry.key.model_name in ("", "candidate")
            ):
                return entry.value.double_value.value
    raise ValueError(f"the blessing evaluation at {evaluation.uri} has no overall {metric}")


def _labels_and_scores(model_dir: str, examples, label: str) -> tuple[np.ndarray, np.ndarray]:
    serve = tf.saved_model.load(model_dir).signatures["serving_default"]
    labels, scores = [], []
    for split in artifact_utils.decode_split_names(examples.split_names):
        files = sorted(glob.glob(os.path.join(artifact_utils.get_split_uri([examples], split), "*")))
        for batch in tf.data.TFRecordDataset(files, compression_type="GZIP").batch(1024):
            parsed = tf.io.parse_example(batch, {label: tf.io.FixedLenFeature([], tf.int64, default_value=0)})
            labels.append(parsed[label].numpy())
            scores.append(next(iter(serve(examples=batch).values())).numpy().ravel())
    return np.concatenate(labels), np.concatenate(scores)


@component
def ConceptDriftCheck(
    examples: InputArtifact[standard_artifacts.Examples],
    report: OutputArtifact[ConceptDriftReport],
    label: Parameter[str],
    metric: Parameter[str] = "auc",
    max_drop: Parameter[float] = 0.05,
    pushed_model: InputArtifact[standard_artifacts.Model] = None,
    blessing_evaluation: InputArtifact[standard_artifacts.ModelEvaluation] = None,
) -> None:
    report.set_int_custom_property("span", artifact_span(examples))
    if pushed_model is None or blessing_evaluation is None:
        report.set_string_custom_property("verdict", "no_pushed_model")
        io_utils.write_string_file(
            os.path.join(report.uri, RESULT_FILE), json.dumps({"verdict": "no_pushed_model"})
        )
        return
    model_dir = path_utils.serving_model_path(
        pushed_model.uri, path_utils.is_old_model_artifact(pushed_model)
    )
    labels, scores = _labels_and_scores(model_dir, examples, label)
    result = check_concept_drift(
        metric, _blessing_metric(blessing_evaluation, metric), labels, scores, max_drop
    )
    verdict = "concept_drift" if result.drifted else "ok"
    io_utils.write_string_file(
        os.path.join(report.uri, RESULT_FILE), json.dumps({**result.to_dict(), "verdict": verdict})
    )
    report.set_string_custom_property("verdict", verdict)
    report.set_string_custom_property("metric", metric)
    report.set_float_custom_property("blessed_value", result.blessed_value)
    report.set_float_custom_property("current_value", result.current_value)
    report.set_float_custom_property("drop", result.drop)
    report.set_int_custom_property("concept_drift", int(result.drifted))
    report.set_int_custom_property("pushed_model_id", pushed_model.id)

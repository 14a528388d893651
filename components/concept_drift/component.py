"""TFX wrapper: scores the new span with the pushed model and compares with its blessing.

Runs in-process on the span's examples (both splits: the pushed model has seen none of them);
no Beam pipeline, so the check costs a model load and one batched prediction.
"""

import glob
import json
import os

import numpy as np
import tensorflow as tf
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import io_utils, path_utils

from ml_lifecycle.base.contracts import SERVING_SIGNATURE, ArtifactFile, ConceptVerdict, Prop, Task
from ml_lifecycle.base.model_description import ModelDescription, load_model_ops, read_model_description
from ml_lifecycle.components.artifacts import ConceptDriftReport
from ml_lifecycle.components.concept_drift.core import check_concept_drift
from ml_lifecycle.components.spans import artifact_span

# TFMA's metric names for the metrics the check supports (as the Evaluator's config names them).
TFMA_NAMES = {
    "auc": "auc",
    "binary_accuracy": "binary_accuracy",
    "accuracy": "sparse_categorical_accuracy",
    "rmse": "root_mean_squared_error",
    "mae": "mean_absolute_error",
}


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


def _label_values(serialized: tf.Tensor, label: str, description: ModelDescription) -> np.ndarray:
    """The label of each example as the metric reads it: 0/1, a class index, or a float."""
    if description.task is Task.REGRESSION:
        spec = tf.io.FixedLenFeature([], tf.float32, default_value=0.0)
        return tf.io.parse_example(serialized, {label: spec})[label].numpy()
    if description.task is Task.BINARY:
        spec = tf.io.FixedLenFeature([], tf.int64, default_value=0)
        return tf.io.parse_example(serialized, {label: spec})[label].numpy()
    # Multiclass classes may be strings or integers; both are matched as text.
    values = tf.io.parse_example(serialized, {label: tf.io.VarLenFeature(tf.string)})[label]
    try:
        text = tf.sparse.to_dense(values, default_value=b"").numpy().ravel()
    except tf.errors.InvalidArgumentError:
        ints = tf.io.parse_example(serialized, {label: tf.io.VarLenFeature(tf.int64)})[label]
        text = np.array([str(v).encode() for v in tf.sparse.to_dense(ints).numpy().ravel()])
    index = {value.encode(): position for position, value in enumerate(description.classes)}
    return np.array([index.get(value, -1) for value in text])


def _labels_and_scores(model_dir: str, examples, label: str) -> tuple[np.ndarray, np.ndarray]:
    description = read_model_description(model_dir, tf.io.gfile.exists, io_utils.read_string_file)
    load_model_ops(description)
    serve = tf.saved_model.load(model_dir).signatures[SERVING_SIGNATURE]
    labels, scores = [], []
    for split in artifact_utils.decode_split_names(examples.split_names):
        files = sorted(glob.glob(os.path.join(artifact_utils.get_split_uri([examples], split), "*")))
        for batch in tf.data.TFRecordDataset(files, compression_type="GZIP").batch(1024):
            labels.append(_label_values(batch, label, description))
            output = next(iter(serve(examples=batch).values())).numpy()
            scores.append(output if description.task is Task.MULTICLASS else output.ravel())
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
    report.set_int_custom_property(Prop.SPAN, artifact_span(examples))
    if pushed_model is None or blessing_evaluation is None:
        no_model = ConceptVerdict.NO_PUSHED_MODEL.value
        report.set_string_custom_property(Prop.VERDICT, no_model)
        io_utils.write_string_file(
            os.path.join(report.uri, ArtifactFile.CONCEPT_DRIFT_RESULT), json.dumps({Prop.VERDICT: no_model})
        )
        return
    model_dir = path_utils.serving_model_path(
        pushed_model.uri, path_utils.is_old_model_artifact(pushed_model)
    )
    labels, scores = _labels_and_scores(model_dir, examples, label)
    result = check_concept_drift(
        metric, _blessing_metric(blessing_evaluation, metric), labels, scores, max_drop
    )
    verdict = (ConceptVerdict.CONCEPT_DRIFT if result.drifted else ConceptVerdict.OK).value
    io_utils.write_string_file(
        os.path.join(report.uri, ArtifactFile.CONCEPT_DRIFT_RESULT),
        json.dumps({**result.to_dict(), Prop.VERDICT: verdict}),
    )
    report.set_string_custom_property(Prop.VERDICT, verdict)
    report.set_string_custom_property(Prop.METRIC, metric)
    report.set_float_custom_property(Prop.BLESSED_VALUE, result.blessed_value)
    report.set_float_custom_property(Prop.CURRENT_VALUE, result.current_value)
    report.set_float_custom_property(Prop.DROP, result.drop)
    report.set_int_custom_property(Prop.CONCEPT_DRIFT, int(result.drifted))
    report.set_int_custom_property(Prop.PUSHED_MODEL_ID, pushed_model.id)

"""The Evaluator's TFMA config: the task's metrics per slice, and the task's gate on one of them."""

from __future__ import annotations

import sys

import tensorflow_model_analysis as tfma

from ml_lifecycle.base.contracts import SERVING_SIGNATURE, TRANSFORM_FEATURES_SIGNATURE, Task
from ml_lifecycle.config.evaluation import Gate
from ml_lifecycle.config.project import PipelineConfig
from ml_lifecycle.models.features import transformed_name

# TFMA reads every model through its signatures. Left unset, TFMA guesses the type by loading each
# model (candidate and baseline) whole as a Keras model first, then again to evaluate it.
MODEL_TYPE = tfma.constants.TF_GENERIC


def gate_threshold(gate: Gate) -> tfma.MetricThreshold:
    """The gating metric's absolute bound and its change against the baseline model, in the
    metric's direction. The change part is ignored on the first run (no blessed baseline)."""
    threshold = tfma.MetricThreshold()
    side = "lower_bound" if gate.higher_is_better else "upper_bound"
    # Without a configured bound (RMSE's default: its scale is the label's) the bound is the
    # largest float: TFMA then validates on every run (a change threshold alone is skipped on the
    # first run, which would leave the first model unblessed forever), and a NaN metric fails it.
    bound = gate.value_bound
    if bound is None:
        bound = -sys.float_info.max if gate.higher_is_better else sys.float_info.max
    threshold.value_threshold.CopyFrom(tfma.GenericValueThreshold(**{side: {"value": bound}}))
    if gate.max_drop is not None or gate.max_relative_drop is not None:
        direction = tfma.MetricDirection.LOWER_IS_BETTER
        if gate.higher_is_better:
            direction = tfma.MetricDirection.HIGHER_IS_BETTER
        # TFMA compares candidate - baseline with these: negative allowances when higher is better.
        sign = -1.0 if gate.higher_is_better else 1.0
        change = tfma.GenericChangeThreshold(direction=direction)
        if gate.max_drop is not None:
            change.absolute.value = sign * gate.max_drop
        if gate.max_relative_drop is not None:
            change.relative.value = sign * gate.max_relative_drop
        threshold.change_threshold.CopyFrom(change)
    return threshold


def task_metrics(task: Task, num_classes: int) -> list[tfma.MetricsSpec]:
    """The metrics the Evaluator computes for a task (overall and per slice)."""
    if task is Task.MULTICLASS:
        return [
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(class_name="ExampleCount"),
                    tfma.MetricConfig(class_name="SparseCategoricalAccuracy"),
                    # Log loss.
                    tfma.MetricConfig(class_name="SparseCategoricalCrossentropy"),
                    tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"),
                ]
            ),
            # Precision and recall per class, and F1 macro-averaged over the classes.
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(class_name="Precision"),
                    tfma.MetricConfig(class_name="Recall"),
                    tfma.MetricConfig(class_name="F1Score"),
                ],
                binarize=tfma.BinarizationOptions(class_ids={"values": list(range(num_classes))}),
                # TFMA's macro average needs the weights spelt out: every class counts the same.
                aggregate=tfma.AggregationOptions(
                    macro_average=True, class_weights={index: 1.0 for index in range(num_classes)}
                ),
            ),
        ]
    if task is Task.REGRESSION:
        names = ["ExampleCount", "MeanAbsoluteError", "MeanSquaredError", "RootMeanSquaredError"]
        names += ["MeanLabel", "MeanPrediction"]
    else:
        names = ["ExampleCount", "BinaryAccuracy", "AUC", "Calibration", "MeanLabel", "MeanPrediction"]
    return [tfma.MetricsSpec(metrics=[tfma.MetricConfig(class_name=name) for name in names])]


def eval_config(config: PipelineConfig, classes: tuple[str, ...] = ()) -> tfma.EvalConfig:
    """TFMA config: the task's metrics over overall and per-feature slices; the task's gate on
    one metric."""
    gate = config.gate
    specs = task_metrics(config.task, len(classes))
    # Thresholds gate on the overall slice only: small slices (one hour, cash-only payments
    # where nobody tips) have undefined or noisy metrics and would veto every model.
    overall_threshold = tfma.PerSliceMetricThreshold(
        slicing_specs=[tfma.SlicingSpec()], threshold=gate_threshold(gate)
    )
    gated = [m for m in specs[0].metrics if m.class_name == gate.metric]
    if gated:
        gated[0].per_slice_thresholds.append(overall_threshold)
    else:
        specs[0].metrics.append(
            tfma.MetricConfig(class_name=gate.metric, per_slice_thresholds=[overall_threshold])
        )
    slices = [tfma.SlicingSpec()] + [
        tfma.SlicingSpec(feature_keys=[name]) for name in config.dataset.evaluation.slice_features
    ]
    label = config.dataset.label.name
    if config.task is Task.MULTICLASS:
        # TFMA reads the class index of the label from the model's transform signature.
        model_spec = tfma.ModelSpec(
            signature_name=SERVING_SIGNATURE,
            label_key=transformed_name(label),
            preprocessing_function_names=[TRANSFORM_FEATURES_SIGNATURE],
            model_type=MODEL_TYPE,
        )
    else:
        model_spec = tfma.ModelSpec(signature_name=SERVING_SIGNATURE, label_key=label, model_type=MODEL_TYPE)
    return tfma.EvalConfig(model_specs=[model_spec], slicing_specs=slices, metrics_specs=specs)

"""Gradient-boosted trees (TensorFlow Decision Forests) over the transformed features.

`training.model_family: gbt` swaps the Keras network for a TF-DF GradientBoostedTreesModel; the
rest of `run_fn` (the signatures applying the Transform graph, the model description) is shared,
so the Evaluator, the model check, the concept check and the server use it as they use the DNN.
Outputs match the DNN's: binary [batch, 1] probability of 1, multiclass [batch, K], regression
[batch, 1]. Bucket ids, hashed integers and vocabulary ids are categorical to the trees, the
z-scored numbers numerical. The SavedModel holds TF-DF's custom inference ops: whoever loads it
imports tensorflow_decision_forests first (`base.model_description.load_model_ops`).
"""

from __future__ import annotations

import logging

import tensorflow as tf
from tfx_bsl.public import tfxio

from ml_lifecycle.base.contracts import Task
from ml_lifecycle.base.model_description import quiet_tfdf
from ml_lifecycle.models.features import FeatureSpec, transformed_name

# Rows per batch while TF-DF reads the train split once (it trains on all of it in memory).
READ_BATCH = 1024


def build_gbt(spec: FeatureSpec, num_trees: int, max_depth: int) -> tf.keras.Model:
    import tensorflow_decision_forests as tfdf

    quiet_tfdf()

    semantic = tfdf.keras.FeatureSemantic
    categorical = spec.bucketized + spec.categorical_int + spec.categorical_string
    features = [tfdf.keras.FeatureUsage(transformed_name(k), semantic.NUMERICAL) for k in spec.numeric]
    features += [tfdf.keras.FeatureUsage(transformed_name(k), semantic.CATEGORICAL) for k in categorical]
    task = tfdf.keras.Task.REGRESSION if spec.task is Task.REGRESSION else tfdf.keras.Task.CLASSIFICATION
    return tfdf.keras.GradientBoostedTreesModel(
        task=task,
        features=features,
        exclude_non_specified_features=True,
        num_trees=num_trees,
        max_depth=max_depth,
        verbose=0,
    )


class MissingClassesError(ValueError):
    """TF-DF sizes a classifier's output from the labels it saw: a class absent from the training
    window would shift every later class's score, so the Trainer stops instead."""


@tf.autograph.experimental.do_not_convert
def _flat_labels(features: dict, labels: tf.Tensor) -> tuple[dict, tf.Tensor]:
    """TF-DF wants one label per example, not a [batch, 1] column (plain TF ops: nothing for
    autograph to convert, which it cannot do for a lambda anyway)."""
    return features, tf.reshape(labels, [-1])


def train_gbt(
    model: tf.keras.Model, file_pattern, data_accessor, tf_transform_output, label: str, classes=()
) -> None:
    """One pass over the train split (TF-DF collects it, then grows the trees); a multiclass
    model must come out with one score per class."""
    dataset = data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(
            batch_size=READ_BATCH, label_key=transformed_name(label), num_epochs=1, shuffle=False
        ),
        tf_transform_output.transformed_metadata.schema,
    ).map(_flat_labels)
    model.fit(dataset, verbose=0)
    quiet_tfdf()
    logging.info("trained %d trees", model.make_inspector().num_trees())
    if classes:
        check_class_count(model, next(iter(dataset))[0], classes)


def check_class_count(model: tf.keras.Model, features: dict, classes) -> None:
    width = int(model(features).shape[-1])
    if width != len(classes):
        raise MissingClassesError(
            f"the gradient-boosted trees learned {width} classes, the schema lists {len(classes)} "
            f"{list(classes)}: the training window lacks some of them (widen training.window_spans "
            "or use model_family dnn)"
        )

"""Transform's `preprocessing_fn`: dataset-agnostic, driven by the feature types in custom_config.

Inputs are keyed by the users' column names (tf.Example keys may be any text); outputs by
`transformed_name`, identifiers TF accepts as op and Keras input names. The label becomes what
the task's loss reads: 0/1 (binary), the class index in `classes` order (multiclass), a float
(regression).
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from ml_lifecycle.base.contracts import Task
from ml_lifecycle.models.features import FeatureSpec, transformed_name

# A class outside `classes` maps here; the anomaly gate stops such a span before Transform.
UNKNOWN_CLASS = -1


def fill_in_missing(x: tf.Tensor | tf.SparseTensor) -> tf.Tensor:
    """Densifies a [batch, 0 or 1] feature, filling missing values with '' or 0."""
    if not isinstance(x, tf.sparse.SparseTensor):
        return tf.reshape(x, [-1]) if x.shape.rank == 2 else x
    default_value = "" if x.dtype == tf.string else 0
    dense = tf.sparse.to_dense(tf.SparseTensor(x.indices, x.values, [x.dense_shape[0], 1]), default_value)
    return tf.squeeze(dense, axis=1)


def class_index(label: tf.Tensor, classes: tuple[str, ...]) -> tf.Tensor:
    """Class values (strings, or integers compared as their text) -> their index in `classes`."""
    text = label if label.dtype == tf.string else tf.strings.as_string(label)
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            tf.constant(list(classes)), tf.range(len(classes), dtype=tf.int64)
        ),
        default_value=UNKNOWN_CLASS,
    )
    return table.lookup(text)


def transformed_label(label: tf.Tensor, spec: FeatureSpec) -> tf.Tensor:
    if spec.task is Task.MULTICLASS:
        return class_index(label, spec.classes)
    if spec.task is Task.REGRESSION:
        return tf.cast(label, tf.float32)
    return tf.cast(label, tf.int64)


def preprocessing_fn(inputs: dict, custom_config: dict) -> dict:
    spec = FeatureSpec.from_custom_config(custom_config)
    outputs = {}
    for key in spec.numeric:
        outputs[transformed_name(key)] = tft.scale_to_z_score(
            tf.cast(fill_in_missing(inputs[key]), tf.float32)
        )
    for key in spec.bucketized:
        outputs[transformed_name(key)] = tft.bucketize(
            tf.cast(fill_in_missing(inputs[key]), tf.float32), spec.bucket_count
        )
    for key in spec.categorical_int:
        # Large integer ids (census tracts) are hashed into a fixed number of buckets.
        as_string = tf.strings.as_string(fill_in_missing(inputs[key]))
        outputs[transformed_name(key)] = tf.strings.to_hash_bucket_fast(as_string, spec.int_hash_buckets)
    for key in spec.categorical_string:
        outputs[transformed_name(key)] = tft.compute_and_apply_vocabulary(
            fill_in_missing(inputs[key]), top_k=spec.vocab_size, num_oov_buckets=spec.oov_buckets
        )
    outputs[transformed_name(spec.label)] = transformed_label(fill_in_missing(inputs[spec.label]), spec)
    return outputs

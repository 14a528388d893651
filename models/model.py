"""Trainer's `run_fn`: a wide-and-deep Keras binary classifier over the transformed features.

Exports a `serving_default` signature that takes serialized tf.Examples holding raw features
(the label is optional) and applies the Transform graph itself, so serving needs no other code.
"""

from __future__ import annotations

import logging

import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import FnArgs
from tfx_bsl.public import tfxio

from models.features import FeatureSpec, transformed_name

SERVING_SIGNATURE = "serving_default"
OUTPUT_KEY = "outputs"


def _dataset(file_pattern, data_accessor, tf_transform_output, label: str, batch_size: int):
    return data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(batch_size=batch_size, label_key=transformed_name(label)),
        tf_transform_output.transformed_metadata.schema,
    ).repeat()


def build_model(
    spec: FeatureSpec, hidden_units: list[int], learning_rate: float, steps_per_execution: int = 1
) -> tf.keras.Model:
    deep_inputs = {
        transformed_name(k): tf.keras.layers.Input(name=transformed_name(k), shape=(1,)) for k in spec.numeric
    }
    widths = {k: spec.bucket_count for k in spec.bucketized}
    widths.update({k: spec.int_hash_buckets for k in spec.categorical_int})
    widths.update({k: spec.vocab_size + spec.oov_buckets for k in spec.categorical_string})
    wide_inputs = {
        transformed_name(k): tf.keras.layers.Input(name=transformed_name(k), shape=(1,), dtype="int64")
        for k in widths
    }
    parts = []
    if deep_inputs:
        deep = tf.keras.layers.concatenate(list(deep_inputs.values()))
        for units in hidden_units:
            deep = tf.keras.layers.Dense(units, activation="relu")(deep)
        parts.append(deep)
    for key, width in widths.items():
        parts.append(tf.keras.layers.CategoryEncoding(num_tokens=width)(wide_inputs[transformed_name(key)]))
    merged = tf.keras.layers.concatenate(parts) if len(parts) > 1 else parts[0]
    output = tf.keras.layers.Dense(1, activation="sigmoid")(merged)
    model = tf.keras.Model({**deep_inputs, **wide_inputs}, output)
    model.compile(
        loss="binary_crossentropy",
        optimizer=tf.keras.optimizers.Adam(learning_rate=learning_rate),
        metrics=[tf.keras.metrics.BinaryAccuracy()],
        # Small batches: running many steps per tf.function call removes most of Keras' per-step
        # Python overhead (the Evaluator computes AUC and the rest afterwards).
        steps_per_execution=steps_per_execution,
    )
    return model


def _serving_signature(model, tf_transform_output, label: str):
    # The layer must be tracked on the model to be saved with it.
    model.tft_layer = tf_transform_output.transform_features_layer()
    raw_feature_spec = tf_transform_output.raw_feature_spec()
    raw_feature_spec.pop(label, None)

    @tf.function(input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string, name="examples")])
    def serve_tf_examples(serialized_examples):
        raw_features = tf.io.parse_example(serialized_examples, raw_feature_spec)
        transformed = model.tft_layer(raw_features)
        transformed.pop(transformed_name(label), None)
        return {OUTPUT_KEY: model(transformed)}

    return serve_tf_examples


def run_fn(fn_args: FnArgs) -> None:
    spec = FeatureSpec.from_custom_config(fn_args.custom_config)
    training = fn_args.custom_config["training"]
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    batch_size = training["batch_size"]
    train = _dataset(fn_args.train_files, fn_args.data_accessor, tf_transform_output, spec.label, batch_size)
    evaluation = _dataset(
        fn_args.eval_files, fn_args.data_accessor, tf_transform_output, spec.label, batch_size
    )
    model = build_model(
        spec,
        training["hidden_units"],
        training["learning_rate"],
        steps_per_execution=training.get("steps_per_execution", 1),
    )
    model.fit(
        train,
        steps_per_epoch=fn_args.train_steps,
        validation_data=evaluation,
        validation_steps=fn_args.eval_steps,
        verbose=0,
    )
    logging.info("trained %d steps", fn_args.train_steps)
    signatures = {SERVING_SIGNATURE: _serving_signature(model, tf_transform_output, spec.label)}
    tf.saved_model.save(model, fn_args.serving_model_dir, signatures=signatures)

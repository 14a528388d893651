"""Trainer's `run_fn`: a wide-and-deep Keras model over the transformed features, its head and
loss by task: binary (one sigmoid, cross-entropy), multiclass (K softmax scores in `classes` order,
sparse cross-entropy), regression (one linear output rescaled to the label's mean and spread, MSE).

Exports the signatures below, each applying the Transform graph itself so serving needs no other
code: `serving_default` takes serialized tf.Examples holding raw features (the label is optional),
as TF Serving's gRPC and `{"b64": ...}` clients send them; `serving_raw` takes one dense tensor per
raw feature (`[batch]`, the feature's dtype), argument names `internal_name(column)`, which is what
JSON clients' rows map onto. Multiclass models add `transform_features` (serialized tf.Examples ->
transformed features), from which TFMA reads the class index of the label. Beside the variables,
`assets.extra/ml_lifecycle_model.json` (base.model_description) says what the model predicts.
"""

from __future__ import annotations

import logging
import shutil

import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import FnArgs

from ml_lifecycle.base.contracts import (
    RAW_SIGNATURE,
    SERVING_SIGNATURE,
    TRANSFORM_FEATURES_SIGNATURE,
    ArtifactFile,
    Task,
)
from ml_lifecycle.base.model_description import ModelDescription
from ml_lifecycle.base.names import internal_name
from ml_lifecycle.models.examples import transformed_batches
from ml_lifecycle.models.features import FeatureSpec, transformed_name
from ml_lifecycle.models.gbt import train_gbt

OUTPUT_KEY = "outputs"
# Regression labels read to set the output's scale (mean and spread); enough for a stable estimate.
LABEL_SCALE_SAMPLE = 100_000


def _dataset(file_pattern, tf_transform_output, label: str, batch_size: int):
    """Transforms the split once, then serves shuffled batches from memory.

    Reading and parsing the gzipped TFRecords on every pass cost ~10 s of a 1000-step run on a
    taxi span; the spans this kit trains on per run fit in memory many times over.
    """
    return (
        transformed_batches(file_pattern, tf_transform_output, label, batch_size)
        .unbatch()
        .cache()
        .shuffle(10_000, reshuffle_each_iteration=True)
        .batch(batch_size)
        .repeat()
        .prefetch(tf.data.AUTOTUNE)
    )


def label_scale(file_pattern, tf_transform_output, label: str) -> tuple[float, float]:
    """Mean and standard deviation of a regression label over (a sample of) the train split."""
    values = []
    for _, labels in transformed_batches(file_pattern, tf_transform_output, label, 1024).take(
        max(1, LABEL_SCALE_SAMPLE // 1024)
    ):
        values.append(tf.reshape(tf.cast(labels, tf.float64), [-1]))
    joined = tf.concat(values, axis=0)
    std = float(tf.math.reduce_std(joined))
    return float(tf.reduce_mean(joined)), std if std > 0 else 1.0


def output_layer(spec: FeatureSpec, merged: tf.Tensor, scale: tuple[float, float]) -> tf.Tensor:
    if spec.task is Task.MULTICLASS:
        return tf.keras.layers.Dense(len(spec.classes), activation="softmax")(merged)
    if spec.task is Task.REGRESSION:
        # The network learns in standard units; the last layer maps them onto the label's scale,
        # so a label in the thousands trains at the same learning rate as one near 1.
        mean, std = scale
        return tf.keras.layers.Rescaling(scale=std, offset=mean)(tf.keras.layers.Dense(1)(merged))
    return tf.keras.layers.Dense(1, activation="sigmoid")(merged)


def build_model(
    spec: FeatureSpec, hidden_units: list[int], label_scale: tuple[float, float] = (0.0, 1.0)
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
    output = output_layer(spec, merged, label_scale)
    model = tf.keras.Model({**deep_inputs, **wide_inputs}, output)
    return model


def _serving_signature(model, tf_transform_output, label: str):
    raw_feature_spec = tf_transform_output.raw_feature_spec()
    raw_feature_spec.pop(label, None)

    @tf.function(
        input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string, name="examples")],
        autograph=False,
    )
    def serve_tf_examples(serialized_examples):
        raw_features = tf.io.parse_example(serialized_examples, raw_feature_spec)
        transformed = model.tft_layer(raw_features)
        transformed.pop(transformed_name(label), None)
        return {OUTPUT_KEY: model(transformed)}

    return serve_tf_examples


def _raw_signature(model, tf_transform_output, label: str):
    """Raw features as dense `[batch]` tensors, one per feature.

    The Transform graph was traced on the VarLen (sparse) features tf.Examples parse into, so each
    dense column becomes a [batch, 1] SparseTensor holding every row's value. A missing value is
    sent as the fill value (0 or ''), which is exactly what `fill_in_missing` turns an absent
    tf.Example feature into, so both signatures give the same score for the same row.
    """
    raw_feature_spec = tf_transform_output.raw_feature_spec()
    raw_feature_spec.pop(label, None)
    # Argument names must be identifiers TF accepts; the Transform graph wants the column names.
    column_of = {internal_name(name): name for name in raw_feature_spec}
    input_signature = {
        internal_name(name): tf.TensorSpec(shape=[None], dtype=spec.dtype, name=internal_name(name))
        for name, spec in sorted(raw_feature_spec.items())
    }

    @tf.function(input_signature=[input_signature], autograph=False)
    def serve_raw_features(raw_columns):
        sparse_features = {}
        for argument, column in raw_columns.items():
            name = column_of[argument]
            batch = tf.shape(column, out_type=tf.int64)[0]
            rows = tf.range(batch, dtype=tf.int64)
            indices = tf.stack([rows, tf.zeros_like(rows)], axis=1)
            sparse_features[name] = tf.SparseTensor(
                indices, column, tf.stack([batch, tf.constant(1, tf.int64)])
            )
        transformed = model.tft_layer(sparse_features)
        transformed.pop(transformed_name(label), None)
        return {OUTPUT_KEY: model(transformed)}

    return serve_raw_features


def _transform_features_signature(model, tf_transform_output):
    """Serialized tf.Examples (with their label) -> transformed features, for TFMA's labels."""
    raw_feature_spec = tf_transform_output.raw_feature_spec()

    @tf.function(
        input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string, name="examples")],
        autograph=False,
    )
    def transform_features(serialized_examples):
        return model.tft_layer(tf.io.parse_example(serialized_examples, raw_feature_spec))

    return transform_features


def _task_loss(task: Task):
    """The loss, the label reshaping it expects, and a per-batch quality figure for the log."""
    if task is Task.MULTICLASS:

        def accuracy(truth, predictions):
            predicted = tf.argmax(predictions, axis=1, output_type=tf.int64)
            return tf.reduce_mean(tf.cast(tf.equal(truth, predicted), tf.float32))

        return tf.keras.losses.SparseCategoricalCrossentropy(), lambda y: tf.reshape(y, [-1]), accuracy

    def as_column(y):
        return tf.reshape(tf.cast(y, tf.float32), [-1, 1])

    if task is Task.REGRESSION:
        return (
            tf.keras.losses.MeanSquaredError(),
            as_column,
            lambda truth, predictions: tf.reduce_mean(tf.abs(truth - predictions)),
        )
    return (
        tf.keras.losses.BinaryCrossentropy(),
        as_column,
        lambda truth, predictions: tf.reduce_mean(
            tf.cast(tf.equal(truth, tf.round(predictions)), tf.float32)
        ),
    )


def train(
    model: tf.keras.Model,
    train_batches: tf.data.Dataset,
    eval_batches: tf.data.Dataset,
    train_steps: int,
    eval_steps: int,
    learning_rate: float,
    task: Task = Task.BINARY,
) -> dict[str, float]:
    """A plain training loop whose steps are traced without autograph.

    Keras' `fit` spends ~10 s of a taxi run autograph-converting its own training code the
    first time it is called in a process; these steps trace in well under a second and run at
    the same speed (measured here: 1000 steps of 40 rows in ~1.2 s).
    """
    optimizer = tf.keras.optimizers.Adam(learning_rate=learning_rate)
    loss_fn, _labels, quality = _task_loss(task)

    @tf.function(autograph=False, reduce_retracing=True)
    def train_step(features, labels):
        with tf.GradientTape() as tape:
            loss = loss_fn(_labels(labels), model(features, training=True))
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        return loss

    @tf.function(autograph=False, reduce_retracing=True)
    def eval_step(features, labels):
        truth = _labels(labels)
        predictions = model(features, training=False)
        return loss_fn(truth, predictions), quality(truth, predictions)

    batches = iter(train_batches)
    loss = float("nan")
    for _ in range(train_steps):
        loss = float(train_step(*next(batches)))
    batches = iter(eval_batches)
    results = [eval_step(*next(batches)) for _ in range(eval_steps)]
    metrics = {
        "train_loss": loss,
        "eval_loss": float(tf.reduce_mean([r[0] for r in results])) if results else float("nan"),
        # Accuracy for classifiers, mean absolute error for regression.
        "eval_quality": float(tf.reduce_mean([r[1] for r in results])) if results else float("nan"),
    }
    logging.info("trained %d steps: %s", train_steps, metrics)
    return metrics


def run_fn(fn_args: FnArgs) -> None:
    spec = FeatureSpec.from_custom_config(fn_args.custom_config)
    training = fn_args.custom_config["training"]
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    family = training.get("model_family", "dnn")
    trees_dir = None
    if family == "gbt":
        model, trees_dir = train_gbt(
            spec,
            training["gbt_num_trees"],
            training["gbt_max_depth"],
            fn_args.train_files,
            tf_transform_output,
        )
    else:
        model = _train_dnn(fn_args, spec, training, tf_transform_output)
    try:
        _save(model, fn_args.serving_model_dir, tf_transform_output, spec)
    finally:
        if trees_dir is not None:
            shutil.rmtree(trees_dir, ignore_errors=True)
    write_description(fn_args.serving_model_dir, spec, family)


def _train_dnn(fn_args: FnArgs, spec: FeatureSpec, training: dict, tf_transform_output) -> tf.keras.Model:
    batch_size = training["batch_size"]
    train_batches = _dataset(fn_args.train_files, tf_transform_output, spec.label, batch_size)
    eval_batches = _dataset(fn_args.eval_files, tf_transform_output, spec.label, batch_size)
    scale = (0.0, 1.0)
    if spec.task is Task.REGRESSION:
        scale = label_scale(fn_args.train_files, tf_transform_output, spec.label)
    model = build_model(spec, training["hidden_units"], scale)
    train(
        model,
        train_batches,
        eval_batches,
        fn_args.train_steps,
        fn_args.eval_steps,
        training["learning_rate"],
        spec.task,
    )
    return model


def _save(model, model_dir: str, tf_transform_output, spec: FeatureSpec) -> None:
    """The SavedModel with its signatures, the DNN and the trees alike."""
    # The layer must be tracked on the model to be saved with it; every signature calls it.
    model.tft_layer = tf_transform_output.transform_features_layer()
    signatures = {
        SERVING_SIGNATURE: _serving_signature(model, tf_transform_output, spec.label),
        RAW_SIGNATURE: _raw_signature(model, tf_transform_output, spec.label),
    }
    if spec.task is Task.MULTICLASS:
        signatures[TRANSFORM_FEATURES_SIGNATURE] = _transform_features_signature(model, tf_transform_output)
    # save_traces=False: the serving signature is all a server needs; tracing every layer's call
    # for Keras' own reloading took ~7 s of a ~10 s Trainer on a taxi span.
    model.save(model_dir, save_format="tf", signatures=signatures, save_traces=False)


def write_description(model_dir: str, spec: FeatureSpec, family: str = "dnn") -> None:
    """`assets.extra/ml_lifecycle_model.json` beside the variables (through tf.io.gfile: the model
    directory may be a bucket)."""
    description = ModelDescription(
        task=spec.task,
        label=spec.label,
        classes=spec.classes,
        input_names={name: internal_name(name) for name in spec.raw_names() if internal_name(name) != name},
        family=family,
    )
    path = f"{model_dir.rstrip('/')}/{ArtifactFile.MODEL_DESCRIPTION}"
    tf.io.gfile.makedirs(path.rsplit("/", 1)[0])
    with tf.io.gfile.GFile(path, "w") as handle:
        handle.write(description.to_json())

"""The Trainer's input: ExampleGen's raw tf.Examples through the Transform graph, in memory.

Transform does not materialize transformed examples (`materialize=False` in the pipeline): on a
taxi span, writing them and reading them back cost a Beam stage per split for rows the Trainer
transforms in a fraction of a second itself, with the same graph every signature applies.
"""

from __future__ import annotations

import tensorflow as tf

from ml_lifecycle.models.features import transformed_name

# ExampleGen writes gzipped TFRecords of tf.Examples.
EXAMPLES_COMPRESSION = "GZIP"


def transformed_batches(file_patterns, tf_transform_output, label: str, batch_size: int) -> tf.data.Dataset:
    """One pass over the split's files: (transformed features, transformed label) batches, in file
    order. `file_patterns` is a pattern or a list of them, as `FnArgs.train_files` holds."""
    patterns = [file_patterns] if isinstance(file_patterns, str) else list(file_patterns)
    files = sorted(path for pattern in patterns for path in tf.io.gfile.glob(pattern))
    if not files:
        raise FileNotFoundError(f"no examples match {patterns}")
    raw_feature_spec = tf_transform_output.raw_feature_spec()
    transform_layer = tf_transform_output.transform_features_layer()
    label_key = transformed_name(label)

    # Plain TF ops: nothing for autograph to convert (tf.data would try on every trace).
    @tf.autograph.experimental.do_not_convert
    def transform(serialized: tf.Tensor):
        transformed = dict(transform_layer(tf.io.parse_example(serialized, raw_feature_spec)))
        return transformed, transformed.pop(label_key)

    return (
        tf.data.TFRecordDataset(files, compression_type=EXAMPLES_COMPRESSION)
        .batch(batch_size)
        .map(transform, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    )

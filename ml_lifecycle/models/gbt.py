"""Gradient-boosted trees (YDF, served through TensorFlow Decision Forests' inference op) over the
transformed features.

`training.model_family: gbt` swaps the Keras network for gradient-boosted trees; the rest of
`run_fn` (the signatures applying the Transform graph, the model description) is shared, so the
Evaluator, the model check, the concept check and the server use it as they use the DNN. Outputs
match the DNN's: binary [batch, 1] probability of 1, multiclass [batch, K] in class-index order,
regression [batch, 1]. Bucket ids, hashed integers and vocabulary ids are categorical to the trees,
the z-scored numbers numerical.

The trees are grown by YDF (the learning library under TF-DF) on the train split read once into
memory, then wrapped as a `tf.Module` calling TF-DF's inference op. TF-DF's Keras `fit` did the
same training but autograph-converted Keras' and TF-DF's training and inference code first: ~8 s
of a ~10 s Trainer on a taxi span, against ~1 s for the same trees here (same learner, same
hyperparameters, identical predictions). The SavedModel holds TF-DF's custom inference op and the
YDF model files as assets: whoever loads it imports tensorflow_decision_forests first
(`base.model_description.load_model_ops`).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import uuid

import numpy as np
import tensorflow as tf

from ml_lifecycle.base.contracts import Task
from ml_lifecycle.base.model_description import quiet_tfdf
from ml_lifecycle.models.examples import transformed_batches
from ml_lifecycle.models.features import FeatureSpec, transformed_name

# Rows per batch while the train split is read into memory (the trees train on all of it at once).
READ_BATCH = 4096


class MissingClassesError(ValueError):
    """The trees size a classifier's output from the labels they saw: a class absent from the
    training window would shift every later class's score, so the Trainer stops instead."""


def read_split(file_pattern, tf_transform_output, label: str) -> dict[str, np.ndarray]:
    """The transformed split as one 1-D array per feature, the label under its transformed name.
    Eager iteration: nothing here is traced but the Transform graph."""
    columns: dict[str, list[np.ndarray]] = {}
    for features, labels in transformed_batches(file_pattern, tf_transform_output, label, READ_BATCH):
        for name, values in {**features, transformed_name(label): labels}.items():
            if isinstance(values, tf.SparseTensor):
                values = tf.sparse.to_dense(values)
            columns.setdefault(name, []).append(np.reshape(values.numpy(), [-1]))
    return {name: np.concatenate(parts) for name, parts in columns.items()}


def learner(spec: FeatureSpec, num_trees: int, max_depth: int):
    import ydf

    categorical = spec.bucketized + spec.categorical_int + spec.categorical_string
    features = [ydf.Feature(transformed_name(k), ydf.Semantic.NUMERICAL) for k in spec.numeric]
    features += [ydf.Feature(transformed_name(k), ydf.Semantic.CATEGORICAL) for k in categorical]
    task = ydf.Task.REGRESSION if spec.task is Task.REGRESSION else ydf.Task.CLASSIFICATION
    return ydf.GradientBoostedTreesLearner(
        label=transformed_name(spec.label),
        task=task,
        features=features,
        include_all_columns=False,
        num_trees=num_trees,
        max_depth=max_depth,
    )


def output_columns(spec: FeatureSpec, label_classes: list[str]) -> list[int]:
    """Which of the trees' score columns make the DNN's outputs, in order: the column of class 1
    (binary), of each class index 0..K-1 (multiclass), the value (regression). The trees name
    their classes by the label values they saw, as text."""
    if spec.task is Task.REGRESSION:
        return [0]
    # Binary: the score of 1, and 0 must have been seen too (trees that saw one value only answer it).
    wanted = ["0", "1"] if spec.task is Task.BINARY else [str(index) for index in range(len(spec.classes))]
    missing = [value for value in wanted if value not in label_classes]
    if missing or (spec.task is Task.MULTICLASS and len(label_classes) != len(spec.classes)):
        if spec.task is Task.MULTICLASS:
            raise MissingClassesError(
                f"the gradient-boosted trees learned {len(label_classes)} classes, the schema lists "
                f"{len(spec.classes)} {list(spec.classes)}: the training window lacks some of them "
                "(widen training.window_spans or use model_family dnn)"
            )
        raise MissingClassesError(
            f"the gradient-boosted trees saw only the label values {label_classes} in the train split: "
            "a binary label needs both 0 and 1"
        )
    if spec.task is Task.BINARY:
        return [label_classes.index("1")]
    return [label_classes.index(value) for value in wanted]


class GradientBoostedTrees(tf.Module):
    """Transformed features -> the DNN's outputs, through TF-DF's inference op. Plain TF ops,
    called from signatures traced without autograph."""

    def __init__(self, model_dir: str, file_prefix: str, input_names: list[str], columns: list[int]):
        super().__init__()
        from tensorflow_decision_forests.tensorflow.ops.inference import api as inference

        # Tracked: the op's model files become assets of the SavedModel this module is saved in.
        self.trees = inference.ModelV2(model_dir, verbose=False, file_prefix=file_prefix)
        self.input_names = list(input_names)
        self.columns = tf.constant(columns, dtype=tf.int32)

    # Always traced: run eagerly, TF-DF's inference kernel is cached by its attributes and a
    # second model in the process answered with the first one's trees (measured).
    @tf.function(autograph=False, reduce_retracing=True)
    def __call__(self, features: dict) -> tf.Tensor:
        inputs = {name: tf.reshape(features[name], [-1]) for name in self.input_names}
        scores = self.trees.apply(inputs).dense_predictions
        return tf.gather(scores, self.columns, axis=1)


class TreesModel(tf.keras.Model):
    """A Keras envelope for the trees, so the SavedModel is written as the DNN's is: Keras' save
    with `save_traces=False`. `tf.saved_model.save` on the bare module traced the Transform
    layer's calls for Keras' own reloading, ~5 s of a taxi Trainer (measured: 6.6 s against 1.8 s).
    Never rebuilt from its config: every loader uses the signatures."""

    def __init__(self, trees: GradientBoostedTrees):
        super().__init__()
        self.trees = trees

    def call(self, features: dict) -> tf.Tensor:
        return self.trees(features)

    def get_config(self) -> dict:
        return {}


def train_gbt(
    spec: FeatureSpec, num_trees: int, max_depth: int, file_pattern, tf_transform_output
) -> tuple[TreesModel, str]:
    """Grows the trees on the train split (read once into memory); the model and the directory
    of the YDF files (see `grow_trees`)."""
    data = read_split(file_pattern, tf_transform_output, spec.label)
    trees, trees_dir = grow_trees(spec, num_trees, max_depth, data)
    return TreesModel(trees), trees_dir


def grow_trees(
    spec: FeatureSpec, num_trees: int, max_depth: int, data: dict[str, np.ndarray]
) -> tuple[GradientBoostedTrees, str]:
    """The trees learned from 1-D columns of transformed features (label included), as a module,
    and the directory holding the YDF model files, which the caller removes once the SavedModel
    (with its copy of them) is written."""
    import ydf

    quiet_tfdf()
    model = learner(spec, num_trees, max_depth).train(data, verbose=0)
    label_classes = [] if spec.task is Task.REGRESSION else [str(value) for value in model.label_classes()]
    columns = output_columns(spec, label_classes)
    logging.info("trained %d trees on %d rows", model.num_trees(), len(data[transformed_name(spec.label)]))
    model_dir = tempfile.mkdtemp(prefix="ml-lifecycle-gbt-")
    # A prefix of its own per model: TF-DF's inference kernels share one registry per process,
    # and two models saved under one prefix answer with whichever was loaded first.
    file_prefix = f"gbt_{uuid.uuid4().hex[:12]}_"
    try:
        model.save(model_dir, advanced_options=ydf.ModelIOOptions(file_prefix=file_prefix))
        module = GradientBoostedTrees(model_dir, file_prefix, model.input_feature_names(), columns)
    except BaseException:
        shutil.rmtree(model_dir, ignore_errors=True)
        raise
    return module, model_dir

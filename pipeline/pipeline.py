"""`create_pipeline(config, span)`: the TFX pipeline, wired once, run anywhere (runners are separate).

Nothing here names a dataset column: features, label and slices come from `config.dataset`.
Node ids are `ComponentId` values (base.contracts): MLMD contexts, caching and every report key
on them, so they never change.
"""

from __future__ import annotations

import json
import re

from tfx.components import (
    CsvExampleGen,
    Evaluator,
    ExampleValidator,
    Pusher,
    SchemaGen,
    StatisticsGen,
    Trainer,
    Transform,
)
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.dsl.components.base import executor_spec
from tfx.dsl.components.common.resolver import Resolver
from tfx.orchestration.pipeline import Pipeline
from tfx.proto import example_gen_pb2, pusher_pb2, range_config_pb2, trainer_pb2
from tfx.types import standard_artifacts
from tfx.types.channel import Channel

from ml_lifecycle.base.contracts import CONCEPT_LOWER_IS_BETTER, ComponentId, Task
from ml_lifecycle.base.errors import ConfigError
from ml_lifecycle.base.model_description import ModelDescription, load_model_ops
from ml_lifecycle.components.anomaly_gate.component import AnomalyGate
from ml_lifecycle.components.baseline_resolver.strategy import (
    BaselineStatisticsStrategy,
    LatestBlessedModelFromOtherSpanStrategy,
    PushedModelStrategy,
)
from ml_lifecycle.components.concept_drift.component import ConceptDriftCheck
from ml_lifecycle.components.drift_validator.component import DriftValidator
from ml_lifecycle.components.model_check.component import ModelCheck
from ml_lifecycle.components.training_window.strategy import TrainingWindowStrategy
from ml_lifecycle.components.versioned_pusher import executor as versioned_pusher_executor
from ml_lifecycle.config.project import PipelineConfig
from ml_lifecycle.datasets.schema_file import known_label_classes
from ml_lifecycle.models.features import custom_config_for
from ml_lifecycle.pipeline.eval_config import eval_config

# `tfx.v1` is avoided on purpose: importing it loads google.cloud.aiplatform (~6 s per process).


def dataset_classes(config: PipelineConfig) -> tuple[str, ...]:
    """A multiclass dataset's classes (`known_label_classes`); none known is a ConfigError."""
    dataset = config.dataset
    if dataset.label.task is not Task.MULTICLASS:
        return ()
    classes = known_label_classes(dataset)
    if not classes:
        raise ConfigError(
            f"label {dataset.label.name!r} is multiclass but neither label.classes nor the schema "
            f"({dataset.resolve_schema() or 'none configured'}) lists its classes; run `lifecycle "
            "schema bootstrap`"
        )
    return classes


def example_gen_component(config: PipelineConfig, span: int) -> CsvExampleGen:
    """Reads one span's CSV files (`<data_root>/span-<span>/*.csv`), hashed into train/eval."""
    training = config.training
    return CsvExampleGen(
        input_base=str(config.data_root_path),
        input_config=example_gen_pb2.Input(
            splits=[example_gen_pb2.Input.Split(name="span", pattern="span-{SPAN}/*.csv")]
        ),
        output_config=example_gen_pb2.Output(
            split_config=example_gen_pb2.SplitConfig(
                splits=[
                    example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=training.train_buckets),
                    example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=training.eval_buckets),
                ]
            )
        ),
        range_config=range_config_pb2.RangeConfig(
            static_range=range_config_pb2.StaticRange(start_span_number=span, end_span_number=span)
        ),
    ).with_id(ComponentId.EXAMPLE_GEN.value)


# Column names whose TF1 transform graph loads back: TF1 names the graph's inputs after the raw
# columns, and loading it into TF2 fails for a name that does not become a Python identifier
# ("'Floor_Area__m²__dense_shape' is not a valid parameter name", measured on a regression dataset).
_TF1_SAFE_COLUMN = re.compile(r"[A-Za-z0-9_ ()]+")


def traces_in_tf1_graph_mode(columns: list[str]) -> bool:
    """Whether Transform traces the preprocessing in TF1 graph mode (`force_tf_compat_v1`): about
    5 s faster per cold run on a taxi span than tracing it as tf.functions, for every dataset whose
    column names allow it; the others keep TF2 tracing."""
    return all(_TF1_SAFE_COLUMN.fullmatch(column) for column in columns)


def create_pipeline(config: PipelineConfig, span: int, span_rows: int = 0) -> Pipeline:
    """The pipeline for one span. `span_rows` (from the pre-flight check) lets the anomaly gate
    prove no rows were lost, and picks the Beam mode when `beam.mode` is auto."""
    dataset = config.dataset
    training = config.training
    classes = dataset_classes(config)
    beam_args = config.beam.pipeline_args(span_rows or None)
    beam_args += config.beam.tfx_packaging_args(beam_args)
    if training.model_family == "gbt":
        # The Evaluator loads the candidate in this process: TF-DF's ops must be registered.
        load_model_ops(ModelDescription(family="gbt"))

    # Reads the span's CSV files and hashes them into train/eval splits.
    example_gen = example_gen_component(config, span)

    # The curated schema; without one, SchemaGen infers a draft (bootstrap only).
    schema_file = dataset.resolve_schema()
    if schema_file is not None:
        schema_node = ImportSchemaGen(schema_file=str(schema_file)).with_id(ComponentId.SCHEMA.value)
        # With the schema, categorical integers get value histograms (for L-infinity drift).
        statistics_gen = StatisticsGen(
            examples=example_gen.outputs["examples"], schema=schema_node.outputs["schema"]
        ).with_id(ComponentId.STATISTICS_GEN.value)
    else:
        statistics_gen = StatisticsGen(examples=example_gen.outputs["examples"]).with_id(
            ComponentId.STATISTICS_GEN.value
        )
        schema_node = SchemaGen(
            statistics=statistics_gen.outputs["statistics"], infer_feature_shape=False
        ).with_id(ComponentId.SCHEMA.value)

    # Validates the statistics against the schema (TRAINING environment).
    example_validator = ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_node.outputs["schema"]
    ).with_id(ComponentId.EXAMPLE_VALIDATOR.value)

    # Statistics of the drift baseline span (default: the span the pushed model learned from).
    baseline_statistics_resolver = Resolver(
        strategy_class=BaselineStatisticsStrategy,
        # Resolver configs cannot hold None: the pinned span is passed only when set.
        config={"span": span, "mode": config.drift.baseline, "pipeline_name": config.pipeline_name}
        | ({"pinned_span": config.drift.pinned_span} if config.drift.pinned_span else {}),
        statistics=Channel(type=standard_artifacts.ExampleStatistics),
        examples=Channel(type=standard_artifacts.Examples),
    ).with_id(ComponentId.BASELINE_STATISTICS_RESOLVER.value)

    # Data drift against the baseline with the schema's comparators, plus PSI; recorded in MLMD.
    drift_validator = DriftValidator(
        statistics=statistics_gen.outputs["statistics"],
        schema=schema_node.outputs["schema"],
        baseline_statistics=baseline_statistics_resolver.outputs["statistics"],
        baseline_examples=baseline_statistics_resolver.outputs["examples"],
        span=span,
        policy=config.drift.policy,
    ).with_id(ComponentId.DRIFT_VALIDATOR.value)

    # Fails the run on any anomaly, lost row or blocked drift, before Transform and Trainer.
    anomaly_gate = AnomalyGate(
        anomalies=example_validator.outputs["anomalies"],
        statistics=statistics_gen.outputs["statistics"],
        expected_num_examples=span_rows,
        drift_report=drift_validator.outputs["report"],
        **({"label": dataset.label.name, "label_classes_json": json.dumps(list(classes))} if classes else {}),
    ).with_id(ComponentId.ANOMALY_GATE.value)

    # The model now serving (trained on another span) and its evaluation at blessing.
    pushed_model_resolver = Resolver(
        strategy_class=PushedModelStrategy,
        config={"span": span, "pipeline_name": config.pipeline_name},
        model=Channel(type=standard_artifacts.Model),
        evaluation=Channel(type=standard_artifacts.ModelEvaluation),
    ).with_id(ComponentId.PUSHED_MODEL_RESOLVER.value)

    # Concept drift: the serving model's metric on this labelled span vs at its blessing.
    concept_metric = config.drift.concept_metric_for(config.task)
    concept_drift_check = ConceptDriftCheck(
        examples=example_gen.outputs["examples"],
        pushed_model=pushed_model_resolver.outputs["model"],
        blessing_evaluation=pushed_model_resolver.outputs["evaluation"],
        label=dataset.label.name,
        metric=concept_metric,
        max_drop=(
            config.drift.concept_max_relative_increase
            if concept_metric in CONCEPT_LOWER_IS_BETTER
            else config.drift.concept_max_drop
        ),
    ).with_id(ComponentId.CONCEPT_DRIFT_CHECK.value)

    custom_config = custom_config_for(dataset, training, classes)

    # The spans the model learns from: span-N+1 .. span as earlier runs ingested them, this span
    # from this run's example_gen; spans never ingested are skipped with a warning in the run log.
    # Without a window (N = 1) Transform reads this run's examples directly.
    training_window_resolver = None
    training_examples = example_gen.outputs["examples"]
    if training.window_spans > 1:
        training_window_resolver = Resolver(
            strategy_class=TrainingWindowStrategy,
            config={
                "span": span,
                "window_spans": training.window_spans,
                "pipeline_name": config.pipeline_name,
            },
            examples=example_gen.outputs["examples"],
        ).with_id(ComponentId.TRAINING_WINDOW_RESOLVER.value)
        training_examples = training_window_resolver.outputs["examples"]

    # Feature engineering shared by training and serving.
    transform = Transform(
        examples=training_examples,
        schema=schema_node.outputs["schema"],
        preprocessing_fn="ml_lifecycle.models.preprocessing.preprocessing_fn",
        custom_config=custom_config_for(dataset, None, classes),
        # Pre/post-transform statistics double Transform's time; StatisticsGen already has them.
        disable_statistics=True,
        force_tf_compat_v1=traces_in_tf1_graph_mode(dataset.features.all_names() + [dataset.label.name]),
        # The Trainer transforms the raw examples itself (models/examples.py): writing them
        # transformed and reading them back cost more than transforming them in memory.
        materialize=False,
    ).with_id(ComponentId.TRANSFORM.value)
    transform.add_upstream_node(anomaly_gate)

    # Trains on the window's examples through the Transform graph; exports the serving signatures.
    trainer = Trainer(
        run_fn="ml_lifecycle.models.model.run_fn",
        examples=training_examples,
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_node.outputs["schema"],
        train_args=trainer_pb2.TrainArgs(num_steps=training.train_steps),
        eval_args=trainer_pb2.EvalArgs(num_steps=training.eval_steps),
        custom_config=custom_config,
    ).with_id(ComponentId.TRAINER.value)
    # Before training, so the check always sees the model that served before this span.
    trainer.add_upstream_node(concept_drift_check)

    # The latest blessed model trained on another span: the baseline the candidate must not
    # fall behind (on a rerun of this span, the same baseline as the first time).
    baseline_resolver = Resolver(
        strategy_class=LatestBlessedModelFromOtherSpanStrategy,
        config={"span": span},
        model=Channel(type=standard_artifacts.Model),
        model_blessing=Channel(type=standard_artifacts.ModelBlessing),
    ).with_id(ComponentId.BASELINE_RESOLVER.value)

    # TFMA metrics per slice; blesses the candidate when it passes the thresholds.
    evaluator = Evaluator(
        examples=example_gen.outputs["examples"],
        example_splits=["eval"],
        model=trainer.outputs["model"],
        baseline_model=baseline_resolver.outputs["model"],
        eval_config=eval_config(config, classes),
    ).with_id(ComponentId.EVALUATOR.value)
    if training.model_family == "gbt" and "--direct_running_mode=multi_processing" in beam_args:
        # TF-DF's ops are registered in this process only; DirectRunner's worker processes would
        # load the candidate without them. Evaluating one span in memory is cheap.
        evaluator.with_beam_pipeline_args(["--direct_running_mode=in_memory"])

    # Loads the SavedModel, replays warmup requests built from real examples, stamps them in.
    model_check = ModelCheck(
        model=trainer.outputs["model"],
        examples=example_gen.outputs["examples"],
        label=dataset.label.name,
        model_name=config.serving_model_name,
        num_warmup_examples=config.model_check.num_warmup_examples,
    ).with_id(ComponentId.MODEL_CHECK.value)

    # Pushes the stamped model to <serving_root>/<model_name>/<version>/ when both blessed it.
    pusher = Pusher(
        model_blessing=evaluator.outputs["blessing"],
        infra_blessing=model_check.outputs["blessing"],
        push_destination=pusher_pb2.PushDestination(
            filesystem=pusher_pb2.PushDestination.Filesystem(
                base_directory=str(config.serving_root_path / config.serving_model_name)
            )
        ),
        # Unique versions even when two runs push in the same second; moved in with one rename.
        custom_executor_spec=executor_spec.ExecutorClassSpec(versioned_pusher_executor.Executor),
    ).with_id(ComponentId.PUSHER.value)

    return Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=str(config.pipeline_root_path),
        components=[
            example_gen,
            # A curated schema feeds StatisticsGen; an inferred one is computed from it.
            *((schema_node, statistics_gen) if schema_file is not None else (statistics_gen, schema_node)),
            example_validator,
            baseline_statistics_resolver,
            drift_validator,
            anomaly_gate,
            pushed_model_resolver,
            concept_drift_check,
            *((training_window_resolver,) if training_window_resolver is not None else ()),
            transform,
            trainer,
            baseline_resolver,
            evaluator,
            model_check,
            pusher,
        ],
        enable_cache=config.enable_cache,
        metadata_connection_config=config.metadata_connection_config(),
        beam_pipeline_args=beam_args,
    )

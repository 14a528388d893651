"""Names more than one package relies on, written once: component ids, verdicts, MLMD property
names, artifact file names, signature names, schema environments, and the typed codec of the
drift report's per-feature scores.

A name here is a contract between a writer (a component, the Trainer, the Pusher) and its
readers (the metadata API, the server, reports, the CLI). Changing one changes what existing
stores and pushed models are read as, so they change only with a migration in mind.
"""

from __future__ import annotations

import enum
import json
import math
from dataclasses import dataclass


class NamedValue(str, enum.Enum):
    """A name that is its own text: `str()` and f-strings give the value, not `Class.MEMBER`."""

    def __str__(self) -> str:
        return self.value


class ComponentId(NamedValue):
    """Stable TFX node ids: MLMD contexts, caching and every report key on them, in DAG order."""

    EXAMPLE_GEN = "example_gen"
    STATISTICS_GEN = "statistics_gen"
    SCHEMA = "schema"
    EXAMPLE_VALIDATOR = "example_validator"
    BASELINE_STATISTICS_RESOLVER = "baseline_statistics_resolver"
    DRIFT_VALIDATOR = "drift_validator"
    ANOMALY_GATE = "anomaly_gate"
    PUSHED_MODEL_RESOLVER = "pushed_model_resolver"
    CONCEPT_DRIFT_CHECK = "concept_drift_check"
    TRAINING_WINDOW_RESOLVER = "training_window_resolver"
    TRANSFORM = "transform"
    TRAINER = "trainer"
    BASELINE_RESOLVER = "latest_blessed_model_resolver"
    EVALUATOR = "evaluator"
    MODEL_CHECK = "model_check"
    PUSHER = "pusher"


# Every node of `create_pipeline`, in DAG order (the run summary and reports list them so).
COMPONENT_IDS: tuple[str, ...] = tuple(c.value for c in ComponentId)


class DriftVerdict(NamedValue):
    """The `verdict` property of a DriftReport."""

    NO_BASELINE = "no_baseline"  # the first span: nothing to compare against
    OK = "ok"
    DRIFT = "drift"


class ConceptVerdict(NamedValue):
    """The `verdict` property of a ConceptDriftReport."""

    NO_PUSHED_MODEL = "no_pushed_model"
    OK = "ok"
    CONCEPT_DRIFT = "concept_drift"


class Task(NamedValue):
    """`label.task` of a dataset: what the model predicts, and so its head, loss, metrics, the
    server's routes and the review rule."""

    BINARY = "binary"  # a 0/1 label; one sigmoid score, the probability of 1
    MULTICLASS = "multiclass"  # one of K classes (strings or integers); K softmax scores
    REGRESSION = "regression"  # a number; one linear output


# TFMA's names (as written in an evaluation) of the metrics shown first for each task: the run
# summary, `lifecycle diff`, the report and the notebooks. The gating metric comes first.
HEADLINE_METRICS: dict[Task, tuple[str, ...]] = {
    Task.BINARY: ("auc", "binary_accuracy", "calibration", "example_count"),
    Task.MULTICLASS: (
        "sparse_categorical_accuracy",
        "sparse_categorical_crossentropy",
        "f1_score",
        "example_count",
    ),
    Task.REGRESSION: (
        "root_mean_squared_error",
        "mean_absolute_error",
        "mean_squared_error",
        "example_count",
    ),
}


# Concept-drift metrics that grow as the model gets worse; their allowance is relative (a fraction
# of the blessed value), the others' absolute (components.concept_drift, the pipeline, the report).
CONCEPT_LOWER_IS_BETTER = frozenset({"rmse", "mae"})


# Custom artifact types: MLMD type names in every existing store.
DRIFT_REPORT_TYPE = "DriftReport"
CONCEPT_DRIFT_REPORT_TYPE = "ConceptDriftReport"


class Prop:
    """Custom property names on artifacts, written by components and read by the metadata API."""

    SPAN = "span"
    VERDICT = "verdict"
    POLICY = "policy"
    BASELINE_SPAN = "baseline_span"
    DRIFTED_FEATURE_COUNT = "drifted_feature_count"
    MAX_SCORE = "max_score"
    DATASET_DRIFT = "dataset_drift"
    EXAMPLE_COUNT_RATIO = "example_count_ratio"
    FEATURE_SCORES = "feature_scores"
    SUMMARY = "summary"
    METRIC = "metric"
    BLESSED_VALUE = "blessed_value"
    CURRENT_VALUE = "current_value"
    MAX_DROP = "max_drop"
    CONCEPT_DRIFT = "concept_drift"
    PUSHED_MODEL_ID = "pushed_model_id"
    DROP = "drop"  # ConceptDriftReport: blessed_value - current_value
    REASON = "reason"  # ModelCheck's blessing: why the candidate failed the check
    # Written by TFX itself: the Evaluator on a ModelBlessing, the Pusher on a PushedModel.
    BLESSED = "blessed"
    CURRENT_MODEL_ID = "current_model_id"
    PUSHED = "pushed"
    PUSHED_VERSION = "pushed_version"
    PUSHED_DESTINATION = "pushed_destination"
    SPLIT_NAMES = "split_names"  # JSON list, on Examples, ExampleStatistics, ExampleAnomalies


class ArtifactFile:
    """File names inside artifact directories."""

    SCHEMA = "schema.pbtxt"  # a Schema artifact, and every curated schema
    SCHEMA_DIFF = "SchemaDiff.pb"  # ExampleValidator's anomalies, per split
    STATISTICS = "FeatureStats.pb"  # StatisticsGen's DatasetFeatureStatisticsList, per split
    DRIFT_TABLE = "drift.json"
    DRIFT_ANOMALIES = "anomalies.pb"
    CONCEPT_DRIFT_RESULT = "concept_drift.json"
    # TF Serving's warmup records inside a SavedModel (ModelCheck writes, the server replays).
    WARMUP_REQUESTS = "assets.extra/tf_serving_warmup_requests"
    # What the model predicts and how its inputs are named (base.model_description; the Trainer
    # writes it, the server, ModelCheck and the concept check read it).
    MODEL_DESCRIPTION = "assets.extra/ml_lifecycle_model.json"


# The exported model's signatures (the Trainer writes both; the server and ModelCheck call them).
SERVING_SIGNATURE = "serving_default"  # serialized tf.Example in, scores out
RAW_SIGNATURE = "serving_raw"  # one dense tensor per raw feature
# The one output of both scoring signatures: binary [batch, 1] probability of 1, multiclass
# [batch, K] class probabilities, regression [batch, 1] the value (the Trainer writes it, the
# server reads it).
SCORES_OUTPUT = "outputs"
# Multiclass models: serialized tf.Examples -> transformed features (TFMA reads the label's class
# index from it; the TFX penguin example's name).
TRANSFORM_FEATURES_SIGNATURE = "transform_features"


class SchemaEnvironment:
    """Environments of the curated schema: the label is in TRAINING, not in SERVING."""

    TRAINING = "TRAINING"
    SERVING = "SERVING"


@dataclass(frozen=True)
class FeatureScore:
    """One feature's drift against the baseline span, as the DriftReport records it."""

    score: float  # the comparator's distance (L-infinity or Jensen-Shannon); NaN: not measured
    threshold: float  # NaN: the schema sets no comparator for the feature
    drifted: bool  # the distribution or its presence drifted
    psi: float | None  # population stability index, where the feature has bins


def finite_or_none(value: float | None) -> float | None:
    """The value as a float, or None where strict JSON cannot hold it (None, NaN, infinity):
    a score TFDV did not measure is written as null."""
    return None if value is None or not math.isfinite(value) else float(value)


def encode_feature_scores(scores: dict[str, FeatureScore]) -> str:
    """The DriftReport's `feature_scores` property: JSON, one object per feature, named fields."""
    return json.dumps(
        {
            name: {
                "score": finite_or_none(s.score),
                "threshold": finite_or_none(s.threshold),
                "drifted": s.drifted,
                "psi": finite_or_none(s.psi),
            }
            for name, s in scores.items()
        }
    )


def decode_feature_scores(text: str | None) -> dict[str, FeatureScore]:
    """Reads `feature_scores`, in today's named form or the positional `[score, threshold,
    drifted, psi]` lists that stores written before it hold; a null score or threshold reads as NaN."""
    scores = {}
    for name, value in json.loads(text or "{}").items():
        if isinstance(value, dict):
            score, threshold, drifted, psi = (value[k] for k in ("score", "threshold", "drifted", "psi"))
        else:
            score, threshold, drifted, psi = value
        scores[name] = FeatureScore(
            math.nan if score is None else float(score),
            math.nan if threshold is None else float(threshold),
            bool(drifted),
            None if psi is None else float(psi),
        )
    return scores


class ServerPath(NamedValue):
    """Model server routes beyond TF Serving's `/v1/models/...` (the server, the CLI, benchmarks)."""

    METRICS = "/monitoring/prometheus/metrics"
    ALERTS = "/v1/alerts"
    OPENAPI = "/openapi.json"
    # On the admin listener; `{model}` is the model name.
    ADMIN_ROLLOUT = "/v1/admin/models/{model}/rollout"


class ServerHeader(NamedValue):
    """Headers the model server adds to its answers (TF Serving's body has no version)."""

    MODEL_VERSION = "X-Model-Version"
    ROUTE = "X-Route"
    WORKER = "X-Worker"

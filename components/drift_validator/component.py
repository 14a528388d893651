"""TFX wrapper of the drift check: compares this span's statistics with a baseline span's.

Stock ExampleValidator never passes previous statistics to TFDV, so the drift comparators in a
schema are dead letters there. This node does, writes a DriftReport (the anomalies proto and a
JSON table), and copies the verdict into MLMD custom properties so that `lifecycle drift` reads
the history from MLMD alone. It never fails the run itself: the anomaly gate applies the policy.
"""

import json
import os

from tfx.components.statistics_gen import stats_artifact_utils
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts
from tfx.utils import io_utils

from ml_lifecycle.base.contracts import ArtifactFile, DriftVerdict, Prop, encode_feature_scores
from ml_lifecycle.components.artifacts import DriftReport
from ml_lifecycle.components.drift_validator.core import compute_drift
from ml_lifecycle.components.spans import artifact_span


def _load_schema(schema_artifact):
    # TFX's file I/O, not datasets.schema_file: on a cluster the artifact URI is gs://.
    from tensorflow_metadata.proto.v0 import schema_pb2

    return io_utils.parse_pbtxt_file(
        os.path.join(schema_artifact.uri, ArtifactFile.SCHEMA), schema_pb2.Schema()
    )


@component
def DriftValidator(
    statistics: InputArtifact[standard_artifacts.ExampleStatistics],
    schema: InputArtifact[standard_artifacts.Schema],
    report: OutputArtifact[DriftReport],
    span: Parameter[int],
    policy: Parameter[str] = "warn",
    split: Parameter[str] = "train",
    baseline_statistics: InputArtifact[standard_artifacts.ExampleStatistics] = None,
    baseline_examples: InputArtifact[standard_artifacts.Examples] = None,
) -> None:
    # Statistics artifacts carry span 0 in TFX 1.16 (see components/spans.py): the current span
    # comes from the pipeline, the baseline's from the Examples it was computed from.
    current_span = span
    report.set_int_custom_property(Prop.SPAN, current_span)
    report.set_string_custom_property(Prop.POLICY, policy)
    if baseline_statistics is None:
        report.set_string_custom_property(Prop.VERDICT, DriftVerdict.NO_BASELINE.value)
        report.set_int_custom_property(Prop.DRIFTED_FEATURE_COUNT, 0)
        io_utils.write_string_file(
            os.path.join(report.uri, ArtifactFile.DRIFT_TABLE),
            json.dumps(
                {Prop.SPAN: current_span, Prop.VERDICT: DriftVerdict.NO_BASELINE.value, "features": []}
            ),
        )
        return
    baseline_span = artifact_span(baseline_examples) if baseline_examples is not None else 0
    result = compute_drift(
        stats_artifact_utils.load_statistics(statistics, split).proto(),
        stats_artifact_utils.load_statistics(baseline_statistics, split).proto(),
        _load_schema(schema),
    )
    verdict = (
        DriftVerdict.DRIFT if result.drifted_features or result.dataset.drifted else DriftVerdict.OK
    ).value
    table = {
        Prop.SPAN: current_span,
        Prop.BASELINE_SPAN: baseline_span,
        "split": split,
        Prop.VERDICT: verdict,
        Prop.POLICY: policy,
        "features": result.to_table(),
        "dataset": {
            "current_examples": result.dataset.current_examples,
            "baseline_examples": result.dataset.baseline_examples,
            "ratio": result.dataset.ratio,
            "drifted": result.dataset.drifted,
        },
        Prop.SUMMARY: result.summary_lines(),
    }
    io_utils.write_string_file(
        os.path.join(report.uri, ArtifactFile.DRIFT_TABLE), json.dumps(table, indent=1)
    )
    io_utils.write_bytes_file(
        os.path.join(report.uri, ArtifactFile.DRIFT_ANOMALIES), result.anomalies.SerializeToString()
    )
    report.set_string_custom_property(Prop.VERDICT, verdict)
    report.set_int_custom_property(Prop.BASELINE_SPAN, baseline_span)
    report.set_int_custom_property(Prop.DRIFTED_FEATURE_COUNT, len(result.drifted_features))
    report.set_float_custom_property(Prop.MAX_SCORE, result.max_score)
    report.set_int_custom_property(Prop.DATASET_DRIFT, int(result.dataset.drifted))
    report.set_float_custom_property(Prop.EXAMPLE_COUNT_RATIO, result.dataset.ratio)
    # One score per feature: the history is then one MLMD query away. Flagged for drift of the
    # distribution or of the presence.
    report.set_string_custom_property(
        Prop.FEATURE_SCORES,
        encode_feature_scores(result.feature_scores()),
    )
    report.set_string_custom_property(Prop.SUMMARY, "\n".join(result.summary_lines()))

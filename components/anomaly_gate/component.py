"""TFX wrapper of the anomaly gate: reads ExampleValidator's anomalies, the statistics and the
drift report.

ExampleValidator only records anomalies; nothing downstream in stock TFX reads them. This node
fails the run (and so stops Transform and Trainer, which are ordered after it) when there are
any, when rows were lost, or when the data drifted under the `block` drift policy.
"""

import json
import os

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.dsl.component.experimental.annotations import InputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import io_utils

from ml_lifecycle.base.contracts import ArtifactFile, Prop
from ml_lifecycle.components.anomaly_gate.core import DriftOutcome, check_gate
from ml_lifecycle.components.artifacts import DriftReport


@component
def AnomalyGate(
    anomalies: InputArtifact[standard_artifacts.ExampleAnomalies],
    statistics: InputArtifact[standard_artifacts.ExampleStatistics],
    expected_num_examples: Parameter[int] = 0,
    label: Parameter[str] = "",
    # Multiclass: the schema's classes as JSON (a list parameter is not a TFX primitive).
    label_classes_json: Parameter[str] = "[]",
    drift_report: InputArtifact[DriftReport] = None,
) -> None:
    splits = artifact_utils.decode_split_names(statistics.split_names)
    anomalies_by_split = {}
    for split in artifact_utils.decode_split_names(anomalies.split_names):
        path = os.path.join(artifact_utils.get_split_uri([anomalies], split), ArtifactFile.SCHEMA_DIFF)
        anomalies_by_split[split] = _read_binary(path)
    statistics_by_split = {
        split: stats_artifact_utils.load_statistics(statistics, split).proto() for split in splits
    }
    drift = None
    if drift_report is not None:
        baseline = drift_report.get_int_custom_property(Prop.BASELINE_SPAN)
        drift = DriftOutcome(
            span=drift_report.get_int_custom_property(Prop.SPAN),
            baseline_span=baseline or None,
            verdict=drift_report.get_string_custom_property(Prop.VERDICT),
            policy=drift_report.get_string_custom_property(Prop.POLICY),
            summary=drift_report.get_string_custom_property(Prop.SUMMARY),
        )
    check_gate(
        anomalies_by_split,
        statistics_by_split,
        expected_num_examples,
        drift,
        label=label,
        classes=json.loads(label_classes_json),
    )


def _read_binary(path: str) -> anomalies_pb2.Anomalies:
    anomalies = anomalies_pb2.Anomalies()
    anomalies.ParseFromString(io_utils.read_bytes_file(path))
    return anomalies

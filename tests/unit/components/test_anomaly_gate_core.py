"""The anomaly gate's pure core: readable reports from TFDV anomalies, and the row-count check."""

from __future__ import annotations

import pytest
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import anomalies_pb2, statistics_pb2

from ml_lifecycle.components.anomaly_gate.core import (
    DataAnomaliesError,
    FeatureAnomaly,
    RowCountMismatchError,
    check_gate,
    count_examples,
    feature_anomalies,
    format_report,
    unknown_label_classes,
)

# Two feature anomalies (one with a top-level description, one described only by its reasons)
# and a dataset-level one, as ExampleValidator writes them.
ANOMALIES = """
anomaly_info {
  key: "payment"
  value {
    severity: ERROR
    description: "Examples contain values missing from the schema: Bitcoin (~20%)."
    reason { type: ENUM_TYPE_UNEXPECTED_STRING_VALUES description: "Bitcoin (~20%)" }
  }
}
anomaly_info {
  key: "fare"
  value {
    severity: WARNING
    reason { type: FLOAT_TYPE_STRING_NOT_FLOAT description: "Expected floats, got strings" }
    reason { type: FEATURE_TYPE_LOW_NUMBER_PRESENT description: "Fewer examples than expected" }
  }
}
dataset_anomaly_info {
  severity: ERROR
  description: "Low number of examples: 3 < 10"
  reason { type: DATASET_LOW_NUM_EXAMPLES }
}
"""


@pytest.fixture
def anomalies():
    return text_format.Parse(ANOMALIES, anomalies_pb2.Anomalies())


def _statistics(*num_examples: int) -> statistics_pb2.DatasetFeatureStatisticsList:
    return statistics_pb2.DatasetFeatureStatisticsList(
        datasets=[statistics_pb2.DatasetFeatureStatistics(num_examples=n) for n in num_examples]
    )


STATISTICS = {"train": _statistics(6), "eval": _statistics(3)}


def test_feature_anomalies_sorted_by_feature_then_the_dataset(anomalies):
    found = feature_anomalies("eval", anomalies)

    assert found == [
        FeatureAnomaly(
            split="eval",
            feature="fare",
            severity="WARNING",
            reasons=("FLOAT_TYPE_STRING_NOT_FLOAT", "FEATURE_TYPE_LOW_NUMBER_PRESENT"),
            description="Expected floats, got strings; Fewer examples than expected",
        ),
        FeatureAnomaly(
            split="eval",
            feature="payment",
            severity="ERROR",
            reasons=("ENUM_TYPE_UNEXPECTED_STRING_VALUES",),
            description="Examples contain values missing from the schema: Bitcoin (~20%).",
        ),
        FeatureAnomaly(
            split="eval",
            feature="<dataset>",
            severity="ERROR",
            reasons=("DATASET_LOW_NUM_EXAMPLES",),
            description="Low number of examples: 3 < 10",
        ),
    ]


def test_no_anomalies_means_an_empty_list():
    assert feature_anomalies("train", anomalies_pb2.Anomalies()) == []


def test_format_report_names_split_feature_description_and_reason(anomalies):
    report = format_report(feature_anomalies("train", anomalies))

    lines = report.splitlines()
    assert lines[0] == "3 anomalies against the curated schema:"
    assert lines[1] == (
        "  [train] feature 'fare': Expected floats, got strings; Fewer examples than expected "
        "(FLOAT_TYPE_STRING_NOT_FLOAT, FEATURE_TYPE_LOW_NUMBER_PRESENT)"
    )
    assert lines[2] == (
        "  [train] feature 'payment': Examples contain values missing from the schema: "
        "Bitcoin (~20%). (ENUM_TYPE_UNEXPECTED_STRING_VALUES)"
    )
    assert (
        lines[3] == "  [train] feature '<dataset>': Low number of examples: 3 < 10 (DATASET_LOW_NUM_EXAMPLES)"
    )


def test_format_report_singular():
    one = FeatureAnomaly("eval", "hour", "ERROR", ("SCHEMA_MISSING_COLUMN",), "Column dropped")

    assert format_report([one]) == (
        "1 anomaly against the curated schema:\n"
        "  [eval] feature 'hour': Column dropped (SCHEMA_MISSING_COLUMN)"
    )


def test_count_examples_sums_datasets_per_split():
    counts = count_examples({"train": _statistics(4, 2), "eval": _statistics(3)})

    assert counts == {"train": 6, "eval": 3}


def test_gate_raises_on_anomalies_in_any_split(anomalies):
    by_split = {"train": anomalies_pb2.Anomalies(), "eval": anomalies}

    with pytest.raises(DataAnomaliesError) as raised:
        check_gate(by_split, STATISTICS, expected_num_examples=9)

    message = str(raised.value)
    assert message.startswith("3 anomalies against the curated schema:")
    assert "[eval] feature 'payment'" in message
    assert "[train]" not in message


def test_gate_reports_anomalies_of_every_split(anomalies):
    with pytest.raises(DataAnomaliesError, match=r"^6 anomalies") as raised:
        check_gate({"train": anomalies, "eval": anomalies}, STATISTICS, expected_num_examples=0)

    assert "[train] feature 'fare'" in str(raised.value)
    assert "[eval] feature 'fare'" in str(raised.value)


@pytest.mark.parametrize("expected", [8, 10, 1])
def test_gate_raises_when_row_counts_differ(expected):
    clean = {"train": anomalies_pb2.Anomalies(), "eval": anomalies_pb2.Anomalies()}

    with pytest.raises(
        RowCountMismatchError, match=rf"produced 9 examples .* CSV files hold {expected} rows"
    ) as raised:
        check_gate(clean, STATISTICS, expected_num_examples=expected)

    assert "'train': 6" in str(raised.value) and "'eval': 3" in str(raised.value)


def test_gate_passes_and_returns_counts_per_split():
    clean = {"train": anomalies_pb2.Anomalies(), "eval": anomalies_pb2.Anomalies()}

    assert check_gate(clean, STATISTICS, expected_num_examples=9) == {"train": 6, "eval": 3}


def test_expected_zero_disables_the_count_check():
    clean = {"train": anomalies_pb2.Anomalies(), "eval": anomalies_pb2.Anomalies()}

    assert check_gate(clean, STATISTICS, expected_num_examples=0) == {"train": 6, "eval": 3}


# --- multiclass labels outside the schema's classes -------------------------------------------


def _label_statistics(
    values: list[str], label: str = "species"
) -> statistics_pb2.DatasetFeatureStatisticsList:
    statistics = text_format.Parse(
        f'datasets {{ num_examples: 3 features {{ path {{ step: "{label}" }} string_stats {{ }} }} }}',
        statistics_pb2.DatasetFeatureStatisticsList(),
    )
    histogram = statistics.datasets[0].features[0].string_stats.rank_histogram
    for rank, value in enumerate(values):
        histogram.buckets.add(low_rank=rank, high_rank=rank, label=value, sample_count=1)
    return statistics


def test_a_label_class_outside_the_classes_stops_the_run():
    statistics = {"train": _label_statistics(["1", "7"]), "eval": _label_statistics(["1"])}

    with pytest.raises(DataAnomaliesError, match=r"\[train\] feature 'species': label classes \['7'\]"):
        check_gate({}, statistics, 0, label="species", classes=["1", "2", "9"])


def test_known_classes_pass_the_gate():
    statistics = {"train": _label_statistics(["2", "9"]), "eval": _label_statistics(["1"])}

    assert check_gate({}, statistics, 0, label="species", classes=["1", "2", "9"]) == {"train": 3, "eval": 3}


def test_unknown_classes_are_found_per_split():
    statistics = {"train": _label_statistics(["a"]), "eval": _label_statistics(["z", "y"])}

    found = unknown_label_classes(statistics, "species", ["a", "b"])

    assert [(f.split, f.reasons) for f in found] == [("eval", ("UNKNOWN_LABEL_CLASS",))]
    assert "['y', 'z']" in found[0].description


def test_a_label_tfdv_already_flagged_is_reported_once(anomalies):
    flagged = anomalies_pb2.Anomalies()
    flagged.anomaly_info["species"].description = "Examples contain values missing from the schema: z"
    statistics = {"train": _label_statistics(["z"])}

    with pytest.raises(DataAnomaliesError) as raised:
        check_gate({"train": flagged}, statistics, 0, label="species", classes=["a"])

    assert str(raised.value).startswith("1 anomaly against the curated schema")

"""The drift report's `feature_scores` codec: named fields, old positional stores still read,
unmeasured scores round-trip as NaN (JSON has no NaN)."""

from __future__ import annotations

import json
import math

import pytest

from ml_lifecycle.base.contracts import (
    COMPONENT_IDS,
    ComponentId,
    FeatureScore,
    decode_feature_scores,
    encode_feature_scores,
)


def test_scores_round_trip_with_named_fields():
    scores = {"fare": FeatureScore(0.21, 0.15, True, 0.8), "company": FeatureScore(0.02, 0.1, False, None)}
    text = encode_feature_scores(scores)
    assert json.loads(text)["fare"] == {"score": 0.21, "threshold": 0.15, "drifted": True, "psi": 0.8}
    assert decode_feature_scores(text) == scores


def test_positional_lists_of_older_stores_are_read():
    text = json.dumps({"fare": [0.21, 0.15, True, 0.8], "company": [0.02, 0.1, False, None]})
    assert decode_feature_scores(text) == {
        "fare": FeatureScore(0.21, 0.15, True, 0.8),
        "company": FeatureScore(0.02, 0.1, False, None),
    }


@pytest.mark.parametrize("field", ["score", "threshold", "psi"])
def test_an_unmeasured_value_is_written_as_null(field):
    values = {"score": 0.3, "threshold": 0.15, "psi": 0.8} | {field: math.nan}
    text = encode_feature_scores({"fare": FeatureScore(drifted=False, **values)})
    assert json.loads(text)["fare"][field] is None  # valid JSON, not NaN
    [score] = decode_feature_scores(text).values()
    read_back = getattr(score, field)
    # A missing PSI means "no bins" (None); a missing score or threshold reads as NaN.
    assert read_back is None if field == "psi" else math.isnan(read_back)
    assert all(getattr(score, other) == values[other] for other in values if other != field)


def test_no_property_decodes_to_no_scores():
    assert decode_feature_scores(None) == {} and decode_feature_scores("") == {}


def test_component_ids_are_unique_and_in_dag_order():
    assert len(set(COMPONENT_IDS)) == len(COMPONENT_IDS) == 16
    assert COMPONENT_IDS.index("training_window_resolver") == COMPONENT_IDS.index("transform") - 1
    assert COMPONENT_IDS[0] == ComponentId.EXAMPLE_GEN == "example_gen"
    assert COMPONENT_IDS[-1] == ComponentId.PUSHER == "pusher"

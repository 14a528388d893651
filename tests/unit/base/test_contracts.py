"""The drift report's `feature_scores` codec: named fields, old positional stores still read,
unmeasured scores round-trip as NaN (JSON has no NaN)."""

from __future__ import annotations

import json
import math

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


def test_an_unmeasured_score_is_written_as_null_and_read_as_nan():
    text = encode_feature_scores({"fare": FeatureScore(math.nan, 0.15, False, math.nan)})
    assert json.loads(text)["fare"]["score"] is None  # valid JSON, not NaN
    [score] = decode_feature_scores(text).values()
    assert math.isnan(score.score) and score.psi is None


def test_no_property_decodes_to_no_scores():
    assert decode_feature_scores(None) == {} and decode_feature_scores("") == {}


def test_component_ids_are_unique_and_in_dag_order():
    assert len(set(COMPONENT_IDS)) == len(COMPONENT_IDS) == 15
    assert COMPONENT_IDS[0] == ComponentId.EXAMPLE_GEN == "example_gen"
    assert COMPONENT_IDS[-1] == ComponentId.PUSHER == "pusher"


def test_a_feature_without_threshold_round_trips_as_nan():
    text = encode_feature_scores({"fare": FeatureScore(0.3, math.nan, False, None)})
    assert json.loads(text)["fare"]["threshold"] is None
    [score] = decode_feature_scores(text).values()
    assert score.score == 0.3 and math.isnan(score.threshold)

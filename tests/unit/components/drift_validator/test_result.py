"""DriftResult.feature_scores: what the DriftReport's `feature_scores` property records."""

from __future__ import annotations

import json
import math

from tensorflow_metadata.proto.v0 import anomalies_pb2

from ml_lifecycle.base.contracts import FeatureScore, encode_feature_scores
from ml_lifecycle.components.drift_validator.result import DatasetDrift, DriftResult, FeatureDrift


def _feature(name, score, threshold, drifted=False, psi=None, missing=(0.0, 0.0)):
    return FeatureDrift(
        name, "NUMERIC", "jensen_shannon_divergence", score, threshold, drifted, psi, *missing
    )


def _result(*features):
    return DriftResult(
        list(features), DatasetDrift(100, 100, 1.0, None, None, False), anomalies_pb2.Anomalies()
    )


def test_scores_carry_drift_of_the_presence_as_drifted():
    result = _result(
        _feature("fare", 0.2, 0.1, drifted=True, psi=0.3),
        _feature("tips", 0.01, 0.1, missing=(0.5, 0.0)),  # half the values went missing
        _feature("miles", 0.02, 0.1),
    )
    assert result.feature_scores() == {
        "fare": FeatureScore(0.2, 0.1, True, 0.3),
        "tips": FeatureScore(0.01, 0.1, True, None),
        "miles": FeatureScore(0.02, 0.1, False, None),
    }


def test_an_unmeasured_feature_is_recorded_as_null():
    result = _result(_feature("fare", math.nan, 0.1, psi=math.nan))
    assert json.loads(encode_feature_scores(result.feature_scores()))["fare"] == {
        "score": None,
        "threshold": 0.1,
        "drifted": False,
        "psi": None,
    }

"""The concept-drift check's pure core: its metrics (the AUC against scikit-learn's) and the verdict
that compares the pushed model's metric on a new span with its value at blessing."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, mean_absolute_error, mean_squared_error, roc_auc_score

from ml_lifecycle.components.concept_drift.core import (
    METRICS,
    ConceptDriftResult,
    accuracy,
    binary_accuracy,
    check_concept_drift,
    mae,
    rmse,
    roc_auc,
)

# --- roc_auc ----------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_roc_auc_matches_scikit_learn_on_random_scores(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=200)
    scores = rng.random(200) + 0.3 * labels  # informative, so the AUC is far from 0.5

    assert roc_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_roc_auc_matches_scikit_learn_when_scores_tie(seed):
    rng = np.random.default_rng(100 + seed)
    labels = rng.integers(0, 2, size=150)
    scores = np.round(rng.random(150) + 0.2 * labels, 1)  # ~13 distinct values: many ties

    assert len(np.unique(scores)) < 20
    assert roc_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


def test_roc_auc_of_hand_countable_cases():
    # Positives 0.9, 0.4; negatives 0.5, 0.1: of the 4 pairs, 3 are ordered right.
    assert roc_auc(np.array([1, 0, 1, 0]), np.array([0.9, 0.5, 0.4, 0.1])) == 0.75
    # A tie between a positive and a negative counts half.
    assert roc_auc(np.array([1, 0]), np.array([0.5, 0.5])) == 0.5
    assert roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert roc_auc(np.array([1, 1, 0, 0]), np.array([0.1, 0.2, 0.8, 0.9])) == 0.0


def test_roc_auc_takes_column_vectors_and_boolean_labels():
    labels = np.array([[True], [False], [True]])
    scores = np.array([[0.7], [0.2], [0.1]])

    assert roc_auc(labels, scores) == 0.5


@pytest.mark.parametrize("labels", [[1, 1, 1], [0, 0, 0]], ids=["only-positives", "only-negatives"])
def test_roc_auc_with_one_class_is_nan(labels):
    assert math.isnan(roc_auc(np.array(labels), np.array([0.2, 0.5, 0.9])))


# --- binary_accuracy --------------------------------------------------------------------------


def test_binary_accuracy_counts_scores_above_the_threshold_as_positive():
    labels = np.array([1, 0, 0, 0])
    scores = np.array([0.9, 0.5, 0.45, 0.2])  # 0.5 is not above 0.5: predicted negative

    assert binary_accuracy(labels, scores) == 1.0
    assert binary_accuracy(labels, scores, threshold=0.4) == 0.5


def test_the_metrics_offered_by_name():
    assert METRICS == {
        "auc": roc_auc,
        "binary_accuracy": binary_accuracy,
        "accuracy": accuracy,
        "rmse": rmse,
        "mae": mae,
    }


# --- multiclass and regression metrics --------------------------------------------------------


def test_multiclass_accuracy_matches_scikit_learn_on_the_arg_max():
    rng = np.random.default_rng(3)
    scores = rng.dirichlet(np.ones(4), size=200)
    labels = rng.integers(0, 4, size=200)

    assert accuracy(labels, scores) == pytest.approx(accuracy_score(labels, scores.argmax(axis=1)))


def test_an_unknown_class_index_never_counts_as_correct():
    scores = np.array([[0.9, 0.1], [0.2, 0.8]])

    assert accuracy(np.array([-1, 1]), scores) == 0.5


def test_regression_errors_match_scikit_learn():
    rng = np.random.default_rng(4)
    truth = rng.normal(100, 20, size=300)
    predicted = truth + rng.normal(0, 5, size=300)

    assert rmse(truth, predicted) == pytest.approx(math.sqrt(mean_squared_error(truth, predicted)))
    assert mae(truth, predicted) == pytest.approx(mean_absolute_error(truth, predicted))


def test_an_error_metric_drifts_on_its_relative_increase():
    worse = ConceptDriftResult("rmse", blessed_value=10.0, current_value=12.0, max_drop=0.1, examples=5)
    slightly_worse = ConceptDriftResult(
        "rmse", blessed_value=10.0, current_value=10.5, max_drop=0.1, examples=5
    )
    better = ConceptDriftResult("mae", blessed_value=4.0, current_value=3.0, max_drop=0.1, examples=5)

    assert worse.drop == pytest.approx(0.2) and worse.drifted is True
    assert "up +20.0%, allowed 10%" in worse.summary()
    assert slightly_worse.drifted is False
    assert better.drop == pytest.approx(-0.25) and better.drifted is False


# --- the verdict ------------------------------------------------------------------------------


def test_a_drop_larger_than_allowed_is_concept_drift():
    result = ConceptDriftResult("auc", blessed_value=0.75, current_value=0.5, max_drop=0.125, examples=40)

    assert result.drop == 0.25
    assert result.drifted is True
    assert result.summary() == (
        "CONCEPT DRIFT: auc of the pushed model 0.7500 at blessing -> 0.5000 on this span "
        "(40 examples; drop +0.2500, allowed 0.125)"
    )


def test_a_drop_of_exactly_the_allowance_is_not_drift():
    result = ConceptDriftResult("auc", blessed_value=0.75, current_value=0.5, max_drop=0.25, examples=3)

    assert result.drifted is False
    assert result.summary().startswith("no concept drift: auc")


def test_a_better_metric_on_the_new_span_is_a_negative_drop():
    result = ConceptDriftResult("auc", blessed_value=0.5, current_value=0.75, max_drop=0.0, examples=3)

    assert result.drop == -0.25
    assert result.drifted is False
    assert "drop -0.2500" in result.summary()


def test_to_dict_holds_the_fields_plus_drop_and_verdict():
    result = ConceptDriftResult("auc", blessed_value=0.75, current_value=0.5, max_drop=0.125, examples=40)

    assert result.to_dict() == {
        "metric": "auc",
        "blessed_value": 0.75,
        "current_value": 0.5,
        "max_drop": 0.125,
        "examples": 40,
        "drop": 0.25,
        "drifted": True,
    }


def test_check_concept_drift_scores_the_span_with_the_named_metric():
    labels = np.array([1, 0, 1, 0])
    scores = np.array([0.9, 0.5, 0.4, 0.1])

    auc = check_concept_drift("auc", np.float32(1.0), labels, scores, max_drop=0.2)
    accuracy = check_concept_drift("binary_accuracy", 1, labels, scores, max_drop=0.2)

    assert (auc.current_value, auc.drop, auc.drifted, auc.examples) == (0.75, 0.25, True, 4)
    assert type(auc.blessed_value) is float
    assert (accuracy.current_value, accuracy.drifted) == (0.75, True)


def test_check_concept_drift_rejects_an_unknown_metric_naming_the_known_ones():
    with pytest.raises(
        ValueError, match=r"unknown concept-drift metric 'f1'; expected one of \['auc', 'binary"
    ):
        check_concept_drift("f1", 0.9, np.array([1, 0]), np.array([0.9, 0.1]), max_drop=0.1)

"""The baseline resolvers' pure core: which blessed model is the Evaluator's baseline
(pick_baseline), and which span's statistics the drift check compares with (pick_baseline_span)."""

from __future__ import annotations

import dataclasses

import pytest

from ml_lifecycle.components.baseline_resolver.core import (
    CandidateBaseline,
    pick_baseline,
    pick_baseline_span,
)


def _candidate(model_id: int, *spans: int) -> CandidateBaseline:
    # Blessing ids differ from model ids so a mix-up of the two would show.
    return CandidateBaseline(model_id=model_id, blessing_id=100 + model_id, trained_on_spans=frozenset(spans))


# --- pick_baseline ----------------------------------------------------------------------------


def test_the_newest_blessed_model_from_another_span_is_the_baseline():
    candidates = [_candidate(3, 1), _candidate(7, 2), _candidate(5, 3)]

    assert pick_baseline(candidates, current_span=4) == _candidate(7, 2)


def test_models_trained_on_the_current_span_are_skipped():
    # A rerun of span 2: its own model (id 9) is the newest blessed one, yet not its baseline.
    candidates = [_candidate(4, 1), _candidate(9, 2)]

    chosen = pick_baseline(candidates, current_span=2)

    assert chosen is not None
    assert (chosen.model_id, chosen.blessing_id) == (4, 104)


def test_a_model_trained_on_several_spans_including_the_current_one_is_skipped():
    candidates = [_candidate(2, 1), _candidate(6, 1, 2, 3)]

    assert pick_baseline(candidates, current_span=3) == _candidate(2, 1)


def test_newest_means_highest_model_id_not_list_order():
    candidates = [_candidate(8, 1), _candidate(2, 2), _candidate(5, 3)]

    assert pick_baseline(candidates, current_span=9).model_id == 8


@pytest.mark.parametrize(
    "candidates",
    [[], [_candidate(1, 5)], [_candidate(1, 5), _candidate(2, 4, 5)]],
    ids=["no-candidates", "only-this-span", "all-include-this-span"],
)
def test_no_eligible_model_gives_no_baseline(candidates):
    assert pick_baseline(candidates, current_span=5) is None


def test_candidate_baseline_is_immutable():
    candidate = _candidate(1, 1)

    with pytest.raises(dataclasses.FrozenInstanceError):
        candidate.model_id = 2


# --- pick_baseline_span -----------------------------------------------------------------------


def test_pushed_mode_takes_the_span_of_the_newest_pushed_model():
    assert pick_baseline_span("pushed", 5, available_spans={1, 2, 3}, pushed_spans=[1, 3, 2]) == 2


def test_pushed_mode_skips_the_current_span_and_spans_without_statistics():
    # Newest first: 5 is the current span, 4 has no statistics, so 2 is the baseline.
    assert pick_baseline_span("pushed", 5, available_spans={1, 2, 3, 5}, pushed_spans=[1, 2, 4, 5]) == 2


@pytest.mark.parametrize(
    ("available", "pushed"),
    [({1, 2}, []), ({1, 2}, [3]), ({1, 2, 5}, [5])],
    ids=["nothing-pushed", "pushed-span-has-no-statistics", "only-the-current-span-pushed"],
)
def test_pushed_mode_without_a_usable_push_gives_no_baseline(available, pushed):
    assert pick_baseline_span("pushed", 5, available_spans=available, pushed_spans=pushed) is None


def test_previous_mode_takes_the_latest_earlier_span_with_statistics():
    available = {1, 3, 5, 8}

    assert pick_baseline_span("previous", 5, available_spans=available, pushed_spans=[8]) == 3


def test_previous_mode_for_the_first_span_gives_no_baseline():
    assert pick_baseline_span("previous", 1, available_spans={1, 2, 3}, pushed_spans=[]) is None


def test_pinned_mode_takes_the_pinned_span_when_it_has_statistics():
    assert pick_baseline_span("pinned", 5, {1, 2, 5}, pushed_spans=[1], pinned_span=2) == 2


@pytest.mark.parametrize("pinned", [None, 4])
def test_pinned_mode_without_statistics_for_the_pinned_span_gives_no_baseline(pinned):
    assert pick_baseline_span("pinned", 5, {1, 2, 5}, pushed_spans=[1], pinned_span=pinned) is None


def test_unknown_mode_is_rejected_naming_the_modes():
    with pytest.raises(ValueError, match="unknown drift baseline mode 'latest'; expected pushed, previous"):
        pick_baseline_span("latest", 5, {1}, [1])

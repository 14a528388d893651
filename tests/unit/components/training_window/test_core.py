"""The training window's pure core: which Examples of which spans a run of span S trains on, and
what it says about spans the store does not hold or whose Examples failed the anomaly gate."""

from __future__ import annotations

import pytest

from ml_lifecycle.components.training_window.core import (
    SpanExamples,
    describe_window,
    pick_training_window,
    run_commands,
    span_ranges,
    window_warning,
)


def _examples(span: int, artifact_id: int, output_ms: int = 0, execution_id: int = 0, version=None):
    # Execution ids default to the artifact id so that "latest" has one meaning unless a test
    # gives them apart.
    return SpanExamples(span, artifact_id, output_ms, execution_id or artifact_id, version)


def _ids(window) -> list[int]:
    return [c.artifact_id for c in window.chosen]


def _pick(candidates: list[SpanExamples], span: int, window_spans: int, failed: tuple[int, ...] = ()):
    """The window when every candidate passed its anomaly gate except the artifact ids `failed`."""
    passed = {c.artifact_id for c in candidates} - set(failed)
    return pick_training_window(candidates, span=span, window_spans=window_spans, passed_gate=passed)


# --- which spans ------------------------------------------------------------------------------


def test_the_window_is_the_last_n_spans_up_to_the_current_one_in_span_order():
    # Listed out of span order, with spans on both sides of the window.
    candidates = [_examples(5, 50), _examples(2, 20), _examples(6, 60), _examples(3, 30), _examples(4, 40)]

    window = _pick(candidates, span=5, window_spans=3)

    assert window.spans == (3, 4, 5)
    assert window.trained_spans == (3, 4, 5)
    assert _ids(window) == [30, 40, 50]
    assert window.missing == ()


def test_a_window_of_one_is_the_current_span_alone():
    candidates = [_examples(1, 10), _examples(2, 20), _examples(3, 30)]

    window = _pick(candidates, span=2, window_spans=1)

    assert _ids(window) == [20]


def test_a_rerun_of_an_older_span_trains_on_the_spans_before_it_not_the_latest_ones():
    candidates = [_examples(s, 10 * s) for s in range(1, 8)]

    window = _pick(candidates, span=3, window_spans=2)

    assert window.trained_spans == (2, 3)
    assert _ids(window) == [20, 30]


def test_a_window_reaching_below_span_one_starts_at_span_one():
    window = _pick([_examples(1, 10), _examples(2, 20)], span=2, window_spans=5)

    assert window.first_span == 1
    assert window.spans == (1, 2)
    assert window.missing == ()  # spans 0, -1, -2 cannot exist: not "missing"


# --- which artifact of a span -----------------------------------------------------------------


def test_the_most_recently_output_artifact_of_a_span_wins():
    # Span 4 ingested twice: artifact 41 at t=100, artifact 42 (new files) at t=200.
    candidates = [_examples(4, 42, output_ms=200), _examples(4, 41, output_ms=100), _examples(5, 50)]

    window = _pick(candidates, span=5, window_spans=2)

    assert _ids(window) == [42, 50]


def test_a_cache_hit_re_outputting_an_older_artifact_makes_it_the_latest():
    # Artifact 41 (older id) was output again by a cached execution after 42 was made.
    candidates = [
        _examples(4, 41, output_ms=300, execution_id=9),
        _examples(4, 42, output_ms=200, execution_id=7),
    ]

    window = _pick(candidates, span=4, window_spans=1)

    assert _ids(window) == [41]


def test_outputs_in_the_same_millisecond_are_ordered_by_execution_id():
    candidates = [
        _examples(4, 41, output_ms=100, execution_id=8),
        _examples(4, 42, output_ms=100, execution_id=3),
    ]

    assert _ids(_pick(candidates, span=4, window_spans=1)) == [41]


def test_a_higher_version_wins_over_a_more_recent_output():
    candidates = [
        _examples(4, 41, output_ms=100, version=2),
        _examples(4, 42, output_ms=900, version=1),
        _examples(4, 43, output_ms=950),  # unversioned: below any version
    ]

    assert _ids(_pick(candidates, span=4, window_spans=1)) == [41]


# --- the anomaly gate -------------------------------------------------------------------------


def test_an_earlier_span_whose_examples_failed_the_gate_is_left_out_and_reported_apart():
    candidates = [_examples(3, 30), _examples(4, 40), _examples(5, 50)]

    window = _pick(candidates, span=5, window_spans=4, failed=(40,))

    assert _ids(window) == [30, 50]
    assert window.failed_gate == (4,)
    assert window.missing == (2,)  # never ingested: not the same as failed


def test_the_current_span_needs_no_gate_pass():
    # This run's gate has not run yet when the resolver does; Transform waits for it.
    window = pick_training_window(
        [_examples(4, 40), _examples(5, 50)], span=5, window_spans=2, passed_gate={40}
    )

    assert _ids(window) == [40, 50]
    assert window.failed_gate == ()


def test_an_older_examples_that_passed_is_taken_when_the_latest_failed():
    # Span 4: artifact 41 passed; new files later gave artifact 42, which failed.
    candidates = [_examples(4, 41, output_ms=100), _examples(4, 42, output_ms=200), _examples(5, 50)]

    window = _pick(candidates, span=5, window_spans=2, failed=(42,))

    assert _ids(window) == [41, 50]
    assert [c.artifact_id for c in window.passed_over] == [42]
    assert window.failed_gate == ()


def test_nothing_is_passed_over_when_the_latest_examples_passed():
    candidates = [_examples(4, 41, output_ms=100), _examples(4, 42, output_ms=200), _examples(5, 50)]

    window = _pick(candidates, span=5, window_spans=2, failed=(41,))

    assert _ids(window) == [42, 50]
    assert window.passed_over == ()


def test_the_warning_names_failed_spans_apart_with_the_commands_that_rerun_them():
    candidates = [_examples(s, 10 * s) for s in (3, 4, 6, 7, 8)]

    warning = window_warning(_pick(candidates, span=8, window_spans=6, failed=(40, 60, 70)), "taxi-pipe")

    assert warning is not None
    assert "spans 4, 6, 7 failed their anomaly gate" in warning
    assert (
        "fix their data and rerun them: `lifecycle run --spans 4:4` and `lifecycle run --spans 6:7`"
        in warning
    )
    assert "span 5 has no Examples from pipeline 'taxi-pipe'" in warning
    assert "`lifecycle run --spans 5:5` would ingest it" in warning
    assert "Training on spans 3, 8" in warning
    assert "`lifecycle run --spans 8:8` retrains on the whole window" in warning


def test_the_warning_for_one_failed_span_reads_as_the_user_would_say_it():
    warning = window_warning(
        _pick([_examples(4, 40), _examples(5, 50)], span=5, window_spans=2, failed=(40,)), "p"
    )

    assert warning is not None
    assert "span 4 failed its anomaly gate" in warning
    assert "fix its data and rerun it: `lifecycle run --spans 4:4`" in warning
    assert "never ingested" not in warning


def test_the_warning_says_when_older_examples_stand_in_for_a_latest_that_failed():
    candidates = [_examples(4, 41, output_ms=100), _examples(4, 42, output_ms=200), _examples(5, 50)]

    warning = window_warning(_pick(candidates, span=5, window_spans=2, failed=(42,)), "p")

    assert warning is not None
    assert (
        "span 4's latest Examples 42 failed its anomaly gate; taking its Examples 41, which passed" in warning
    )
    # The whole window is trained on: no rerun to suggest.
    assert "retrains" not in warning


# --- spans the store does not hold ------------------------------------------------------------


def test_spans_without_examples_are_reported_not_invented():
    candidates = [_examples(3, 30), _examples(5, 50), _examples(7, 70)]

    window = _pick(candidates, span=7, window_spans=5)

    assert window.spans == (3, 4, 5, 6, 7)
    assert window.trained_spans == (3, 5, 7)
    assert window.missing == (4, 6)


def test_a_missing_current_span_is_reported_like_any_other():
    window = _pick([_examples(2, 20)], span=3, window_spans=2)

    assert window.trained_spans == (2,)
    assert window.missing == (3,)


def test_an_empty_store_misses_the_whole_window():
    window = _pick([], span=4, window_spans=3)

    assert window.chosen == ()
    assert window.missing == (2, 3, 4)


def test_consecutive_spans_collapse_into_ranges():
    assert span_ranges([7, 2, 3, 4, 9, 10]) == [(2, 4), (7, 7), (9, 10)]
    assert span_ranges([]) == []


def test_run_commands_cover_exactly_the_given_spans():
    assert run_commands([4, 6, 7]) == ["lifecycle run --spans 4:4", "lifecycle run --spans 6:7"]


def test_the_warning_names_the_missing_spans_the_trained_ones_and_the_commands():
    window = _pick([_examples(3, 30), _examples(5, 50), _examples(7, 70)], span=7, window_spans=5)

    warning = window_warning(window, "taxi-pipe")

    assert warning is not None
    assert "spans 3..7" in warning
    assert "spans 4, 6 have no Examples from pipeline 'taxi-pipe'" in warning
    assert "Training on spans 3, 5, 7" in warning
    assert "`lifecycle run --spans 4:4` and `lifecycle run --spans 6:6` would ingest them" in warning
    assert "`lifecycle run --spans 7:7` retrains" in warning


def test_no_warning_when_the_store_holds_the_whole_window():
    window = _pick([_examples(1, 10), _examples(2, 20)], span=2, window_spans=2)

    assert window_warning(window, "p") is None


def test_the_description_names_each_span_and_its_artifact():
    window = _pick([_examples(1, 10), _examples(2, 20)], span=2, window_spans=2)

    assert describe_window(window, "p").endswith("spans 1..2; span 1 -> Examples 10, span 2 -> Examples 20")


@pytest.mark.parametrize(("span", "window_spans"), [(0, 1), (3, 0)])
def test_impossible_spans_and_windows_are_refused(span, window_spans):
    with pytest.raises(ValueError):
        pick_training_window([], span=span, window_spans=window_spans, passed_gate=())

"""Pure core of the training window: which Examples artifact of each span a run trains on.

A run of span S with `training.window_spans` N trains on spans S-N+1 .. S. TFX's ExampleGen
reads one span per execution, so the window is put together from what earlier runs ingested;
spans the store does not hold are reported, never invented.

An earlier span's Examples count only if they passed the anomaly gate: a run that stopped at
`anomaly_gate` (a schema anomaly, a class the schema does not know, drift under the `block`
policy) still leaves a LIVE Examples artifact behind, and Transform would read it without a
check (an unknown class becomes index -1 and the Trainer fails far from the cause). The caller
says which artifacts passed; the current span needs no such word, because its gate runs before
Transform in the very run that asks.

A span can have several Examples: its files changed and it was ingested again, or a cache hit
output an older artifact once more. The one a run takes is the latest that qualifies: the highest
ExampleGen `version` (set only when the file pattern has a {VERSION}), then the one example_gen
output most recently. Recency of output rather than of creation: a cache hit re-outputs the
artifact that matches the span's files now, which may be older than one made from files since
replaced.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

# Spans are numbered from 1 (datasets.prepare: span 1 holds the origin; `lifecycle run` refuses
# 0), so a window reaching below 1 starts at 1 instead of reporting spans that cannot exist.
FIRST_SPAN = 1


@dataclass(frozen=True)
class SpanExamples:
    """One Examples artifact that example_gen output for a span."""

    span: int
    artifact_id: int
    # When example_gen last output this artifact (ms since the epoch), and that execution's id,
    # which orders two outputs in the same millisecond.
    output_ms: int
    execution_id: int
    version: int | None = None

    def recency(self) -> tuple[int, int, int]:
        # An unversioned artifact ranks below any versioned one of the same span.
        return (-1 if self.version is None else self.version, self.output_ms, self.execution_id)


@dataclass(frozen=True)
class TrainingWindow:
    """The spans a run of `span` trains on: the artifact chosen per span, in span order; the spans
    of the window the store does not hold (`missing`); the earlier spans whose every Examples
    failed the anomaly gate (`failed_gate`); and, for a span that is trained on, its latest
    Examples when those failed the gate and an older one that passed was taken (`passed_over`)."""

    span: int
    window_spans: int
    chosen: tuple[SpanExamples, ...]
    missing: tuple[int, ...]
    failed_gate: tuple[int, ...] = ()
    passed_over: tuple[SpanExamples, ...] = ()

    @property
    def first_span(self) -> int:
        return first_window_span(self.span, self.window_spans)

    @property
    def spans(self) -> tuple[int, ...]:
        return tuple(range(self.first_span, self.span + 1))

    @property
    def trained_spans(self) -> tuple[int, ...]:
        return tuple(c.span for c in self.chosen)


def first_window_span(span: int, window_spans: int) -> int:
    """The first span of the window of `span`: span-window_spans+1, at least FIRST_SPAN."""
    if span < FIRST_SPAN:
        raise ValueError(f"span {span}: spans are numbered from {FIRST_SPAN}")
    if window_spans < 1:
        raise ValueError(f"window_spans {window_spans}: a window holds at least one span")
    return max(FIRST_SPAN, span - window_spans + 1)


def pick_training_window(
    candidates: list[SpanExamples], span: int, window_spans: int, passed_gate: Collection[int]
) -> TrainingWindow:
    """The latest qualifying artifact of each span in `first .. span`, in span order.

    `passed_gate` holds the ids of the artifacts that passed the anomaly gate in some run; a
    candidate of an earlier span qualifies only if it is there, one of `span` always does.
    Spans without a candidate are `missing`; earlier spans whose candidates all failed are
    `failed_gate`.
    """
    first = first_window_span(span, window_spans)
    latest: dict[int, SpanExamples] = {}  # per span, whether it passed the gate or not
    latest_qualifying: dict[int, SpanExamples] = {}
    for candidate in candidates:
        if not first <= candidate.span <= span:
            continue
        _keep_latest(latest, candidate)
        if candidate.span == span or candidate.artifact_id in passed_gate:
            _keep_latest(latest_qualifying, candidate)
    wanted = range(first, span + 1)
    return TrainingWindow(
        span=span,
        window_spans=window_spans,
        chosen=tuple(latest_qualifying[s] for s in wanted if s in latest_qualifying),
        missing=tuple(s for s in wanted if s not in latest),
        failed_gate=tuple(s for s in wanted if s in latest and s not in latest_qualifying),
        passed_over=tuple(
            latest[s] for s in wanted if s in latest_qualifying and latest[s] != latest_qualifying[s]
        ),
    )


def _keep_latest(latest: dict[int, SpanExamples], candidate: SpanExamples) -> None:
    held = latest.get(candidate.span)
    if held is None or candidate.recency() > held.recency():
        latest[candidate.span] = candidate


def span_ranges(spans: tuple[int, ...] | list[int]) -> list[tuple[int, int]]:
    """Consecutive spans as inclusive ranges: (2, 3, 4, 7) -> [(2, 4), (7, 7)]."""
    ranges: list[tuple[int, int]] = []
    for span in sorted(spans):
        if ranges and span == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], span)
        else:
            ranges.append((span, span))
    return ranges


def run_commands(spans: tuple[int, ...] | list[int]) -> list[str]:
    """The `lifecycle run` commands that would run exactly these spans (ingesting them anew)."""
    return [f"lifecycle run --spans {first}:{last}" for first, last in span_ranges(spans)]


def _span_list(spans: tuple[int, ...]) -> str:
    return ", ".join(str(s) for s in spans) or "none"


def _spans_named(spans: tuple[int, ...]) -> str:
    return f"span {spans[0]}" if len(spans) == 1 else f"spans {_span_list(spans)}"


def _quoted(commands: list[str]) -> str:
    return " and ".join(f"`{c}`" for c in commands)


def describe_window(window: TrainingWindow, pipeline_name: str) -> str:
    """One line for the run log: the window and the artifact taken for each span."""
    taken = ", ".join(f"span {c.span} -> Examples {c.artifact_id}" for c in window.chosen) or "nothing"
    return (
        f"training window of span {window.span} in pipeline {pipeline_name!r} "
        f"(training.window_spans {window.window_spans}): spans {window.first_span}..{window.span}; "
        f"{taken}"
    )


def window_warning(window: TrainingWindow, pipeline_name: str) -> str | None:
    """What to tell the user when the window is not trained on as its spans stand, or None: spans
    never ingested, spans that failed their anomaly gate, and older Examples taken for a span
    whose latest failed it."""
    problems = []
    if window.missing:
        one = len(window.missing) == 1
        problems.append(
            f"{_spans_named(window.missing)} {'has' if one else 'have'} no Examples from pipeline "
            f"{pipeline_name!r} in the metadata store (never ingested by its example_gen); "
            f"{_quoted(run_commands(window.missing))} would ingest {'it' if one else 'them'}"
        )
    if window.failed_gate:
        one = len(window.failed_gate) == 1
        its, it = ("its", "it") if one else ("their", "them")
        problems.append(
            f"{_spans_named(window.failed_gate)} failed {its} anomaly gate (no run that ingested "
            f"{its} Examples passed anomaly_gate); fix {its} data and rerun {it}: "
            f"{_quoted(run_commands(window.failed_gate))}"
        )
    taken = {c.span: c for c in window.chosen}
    for newest in window.passed_over:
        problems.append(
            f"span {newest.span}'s latest Examples {newest.artifact_id} failed its anomaly gate; "
            f"taking its Examples {taken[newest.span].artifact_id}, which passed"
        )
    if not problems:
        return None
    retrain = (
        f"; then `lifecycle run --spans {window.span}:{window.span}` retrains on the whole window"
        if window.missing or window.failed_gate
        else ""
    )
    return (
        f"training window of span {window.span} (training.window_spans {window.window_spans}, "
        f"spans {window.first_span}..{window.span}): {'; '.join(problems)}. Training on spans "
        f"{_span_list(window.trained_spans)}{retrain}."
    )

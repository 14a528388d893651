"""Pure core of the training window: which Examples artifact of each span a run trains on.

A run of span S with `training.window_spans` N trains on spans S-N+1 .. S. TFX's ExampleGen
reads one span per execution, so the window is put together from what earlier runs ingested;
spans the store does not hold are reported, never invented.

A span can have several Examples: its files changed and it was ingested again, or a cache hit
output an older artifact once more. The one a run takes is the latest: the highest ExampleGen
`version` (set only when the file pattern has a {VERSION}), then the one example_gen output
most recently. Recency of output rather than of creation: a cache hit re-outputs the artifact
that matches the span's files now, which may be older than one made from files since replaced.
"""

from __future__ import annotations

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
    """The spans a run of `span` trains on: the artifact chosen per span the store holds, in span
    order, and the spans of the window it does not hold."""

    span: int
    window_spans: int
    chosen: tuple[SpanExamples, ...]
    missing: tuple[int, ...]

    @property
    def first_span(self) -> int:
        return max(FIRST_SPAN, self.span - self.window_spans + 1)

    @property
    def spans(self) -> tuple[int, ...]:
        return tuple(range(self.first_span, self.span + 1))

    @property
    def trained_spans(self) -> tuple[int, ...]:
        return tuple(c.span for c in self.chosen)


def pick_training_window(candidates: list[SpanExamples], span: int, window_spans: int) -> TrainingWindow:
    """The latest artifact of each span in `first .. span` (first = span-window_spans+1, at
    least FIRST_SPAN), in span order; spans without a candidate are listed as missing."""
    if span < FIRST_SPAN:
        raise ValueError(f"span {span}: spans are numbered from {FIRST_SPAN}")
    if window_spans < 1:
        raise ValueError(f"window_spans {window_spans}: a window holds at least one span")
    first = max(FIRST_SPAN, span - window_spans + 1)
    latest: dict[int, SpanExamples] = {}
    for candidate in candidates:
        if not first <= candidate.span <= span:
            continue
        held = latest.get(candidate.span)
        if held is None or candidate.recency() > held.recency():
            latest[candidate.span] = candidate
    wanted = range(first, span + 1)
    return TrainingWindow(
        span=span,
        window_spans=window_spans,
        chosen=tuple(latest[s] for s in wanted if s in latest),
        missing=tuple(s for s in wanted if s not in latest),
    )


def span_ranges(spans: tuple[int, ...] | list[int]) -> list[tuple[int, int]]:
    """Consecutive spans as inclusive ranges: (2, 3, 4, 7) -> [(2, 4), (7, 7)]."""
    ranges: list[tuple[int, int]] = []
    for span in sorted(spans):
        if ranges and span == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], span)
        else:
            ranges.append((span, span))
    return ranges


def ingest_commands(missing: tuple[int, ...] | list[int]) -> list[str]:
    """The `lifecycle run` commands that would ingest exactly the missing spans."""
    return [f"lifecycle run --spans {first}:{last}" for first, last in span_ranges(missing)]


def _span_list(spans: tuple[int, ...]) -> str:
    return ", ".join(str(s) for s in spans) or "none"


def describe_window(window: TrainingWindow, pipeline_name: str) -> str:
    """One line for the run log: the window and the artifact taken for each span."""
    taken = ", ".join(f"span {c.span} -> Examples {c.artifact_id}" for c in window.chosen) or "nothing"
    return (
        f"training window of span {window.span} in pipeline {pipeline_name!r} "
        f"(training.window_spans {window.window_spans}): spans {window.first_span}..{window.span}; "
        f"{taken}"
    )


def missing_spans_warning(window: TrainingWindow, pipeline_name: str) -> str | None:
    """What to tell the user when spans of the window were never ingested, or None."""
    if not window.missing:
        return None
    commands = " and ".join(f"`{c}`" for c in ingest_commands(window.missing))
    return (
        f"training window of span {window.span} (training.window_spans {window.window_spans}, "
        f"spans {window.first_span}..{window.span}): spans {_span_list(window.missing)} have no "
        f"Examples from pipeline {pipeline_name!r}'s example_gen in the metadata store (never "
        f"ingested); training on spans {_span_list(window.trained_spans)}. {commands} would ingest "
        f"them; then `lifecycle run --spans {window.span}:{window.span}` retrains on the whole window."
    )

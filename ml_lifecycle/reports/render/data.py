"""Sections 2 and 3 of the report, the data itself: examples per span and split (with the drift
check's count ratio), and each feature's share of missing values per span.
"""

from __future__ import annotations

from ml_lifecycle.reports.collect import ReportData
from ml_lifecycle.reports.render.elements import (
    DRIFT_COLOR,
    Cell,
    empty,
    esc,
    legend_outside,
    line_styles,
    new_figure,
    num,
    pct,
    png_img,
    span_axis,
    table,
)


def examples_section(data: ReportData) -> str:
    if not data.spans:
        return empty("No statistics recorded yet: no span has been through StatisticsGen.")
    drift_by_span = {r.span: r for r in data.drift}
    splits = sorted(
        {s for span in data.spans for s in span.examples_per_split}, key=lambda s: (s != "train", s)
    )
    figure = new_figure(11, 3.8)
    axes = figure.add_subplot()
    xs = [s.span for s in data.spans]
    bottom = [0] * len(xs)
    for i, split in enumerate(splits):
        heights = [s.examples_per_split.get(split, 0) for s in data.spans]
        axes.bar(
            xs,
            heights,
            bottom=bottom,
            color=["#1f77b4", "#aec7e8", "#ff7f0e", "#ffbb78"][i % 4],
            label=split,
            width=0.6,
        )
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    top = max(bottom) if bottom else 0
    for span, total in zip(data.spans, bottom, strict=True):
        record = drift_by_span.get(span.span)
        note = str(total)
        if record is not None and record.baseline_span is not None:
            ratio = f" ×{record.example_count_ratio:.2f}" if record.example_count_ratio is not None else ""
            note += f"\nvs span {record.baseline_span}{ratio}"
        elif record is not None:
            note += "\nno baseline"
        color = DRIFT_COLOR if record is not None and record.dataset_drift else "#333"
        axes.annotate(
            note,
            (span.span, total),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=8,
            color=color,
        )
    axes.set_ylim(0, top * 1.3 if top else 1)
    span_axis(axes, xs)
    axes.set_ylabel("examples")
    axes.set_title("Examples per span, by split (label: total, drift baseline and count ratio to it)")
    legend_outside(axes)
    parts = [png_img(figure, "examples per span")]
    rows = []
    for span in data.spans:
        record = drift_by_span.get(span.span)
        baseline = "–" if record is None or record.baseline_span is None else str(record.baseline_span)
        ratio = record.example_count_ratio if record is not None else None
        rows.append(
            [Cell(str(span.span))]
            + [Cell(str(span.examples_per_split.get(split, 0))) for split in splits]
            + [
                Cell(str(span.examples)),
                Cell(baseline, "muted" if baseline == "–" else ""),
                Cell(num(ratio, 2), "bad" if record is not None and record.dataset_drift else ""),
            ]
        )
    parts.append(table(["span"] + splits + ["total", "drift baseline span", "ratio to baseline"], rows))
    parts.append(
        "<p class='meta'>Ratio to baseline: the drift check's example-count ratio, measured on the split "
        "it compares (train by default); red where it counts as dataset drift.</p>"
    )
    return "\n".join(parts)


def missing_section(data: ReportData) -> str:
    if not data.spans:
        return empty("No statistics recorded yet.")
    names = sorted({n for s in data.spans for n in s.missing_fraction})
    missing = [n for n in names if any(s.missing_fraction.get(n, 0) > 0 for s in data.spans)]
    complete = [n for n in names if n not in missing]
    parts = [
        "<p>Share of each span's examples (all splits) in which the feature has no value: absent, "
        "or an empty CSV cell.</p>"
    ]
    if not missing:
        parts.append(empty("No feature has a missing value in any span."))
        return "\n".join(parts)
    styles = line_styles(missing)
    figure = new_figure(11, 3.8)
    axes = figure.add_subplot()
    xs = [s.span for s in data.spans]
    for name in missing:
        points = [(s.span, 100 * s.missing_fraction[name]) for s in data.spans if name in s.missing_fraction]
        axes.plot(
            [x for x, _ in points],
            [y for _, y in points],
            marker="o",
            markersize=4,
            label=name,
            **styles[name],
        )
    span_axis(axes, xs)
    axes.set_ylabel("% of examples without a value")
    axes.set_ylim(bottom=0)
    axes.set_title("Missing values per feature (features never missing are left out)")
    legend_outside(axes)
    parts.append(png_img(figure, "missing-value fraction per feature over spans"))
    rows = []
    for name in missing:
        rows.append(
            [Cell(name, "text")]
            + [
                Cell(pct(s.missing_fraction.get(name)), "muted" if not s.missing_fraction.get(name) else "")
                for s in data.spans
            ]
        )
    parts.append(table(["feature"] + [f"span {s}" for s in xs], rows))
    if complete:
        parts.append(f"<p class='meta'>Never missing: {esc(', '.join(complete))}.</p>")
    return "\n".join(parts)

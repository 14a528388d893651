"""Section 5 of the report, concept drift: the pushed model's metric at blessing against the same
model's metric on each new span.

A score (AUC, accuracy) may fall by `drift.concept_max_drop`; an error (RMSE, MAE, in the
label's units) may grow by `drift.concept_max_relative_increase` of its value at blessing, and
its recorded drop is that relative increase (`components.concept_drift.core`).
"""

from __future__ import annotations

from matplotlib.figure import Figure

from ml_lifecycle.base.contracts import CONCEPT_LOWER_IS_BETTER, ConceptVerdict
from ml_lifecycle.reports.collect import ReportData
from ml_lifecycle.reports.render.elements import (
    DRIFT_COLOR,
    PUSH_COLOR,
    Cell,
    empty,
    esc,
    finite,
    legend_outside,
    new_figure,
    num,
    png_img,
    span_axis,
    table,
)


def concept_section(data: ReportData) -> str:
    if not data.concept:
        return empty("No concept-drift checks recorded yet.")
    checked = [
        c
        for c in data.concept
        if c.verdict != ConceptVerdict.NO_PUSHED_MODEL and finite(c.blessed_value) and finite(c.current_value)
    ]
    checked_ids = {id(c) for c in checked}
    waiting = [c.span for c in data.concept if c.verdict == ConceptVerdict.NO_PUSHED_MODEL]
    unmeasured = [
        c.span
        for c in data.concept
        if id(c) not in checked_ids and c.verdict != ConceptVerdict.NO_PUSHED_MODEL
    ]
    parts = []
    if waiting:
        parts.append(empty(f"Span(s) {', '.join(map(str, waiting))}: no pushed model to check yet."))
    if unmeasured:
        parts.append(
            empty(
                f"Span(s) {', '.join(map(str, unmeasured))}: the metric could not be measured "
                "(e.g. only one class in the span)."
            )
        )
    if not checked:
        parts.append(empty("No span has been checked against a pushed model yet."))
        return "\n".join(parts)
    allowed = ""
    if any(c.metric in CONCEPT_LOWER_IS_BETTER for c in checked):
        if data.concept_max_relative_increase is not None:
            allowed = f" (allowed increase {data.concept_max_relative_increase:.0%})"
    elif data.concept_max_drop is not None:
        allowed = f" (allowed drop {data.concept_max_drop:g})"
    parts.append(
        "<p>The pushed model's metric on its own eval data when it was blessed, against the same "
        f"model's metric on each new span{esc(allowed)}. Red: concept drift recorded.</p>"
    )
    figure = _concept_plot(data, checked)
    parts.append(png_img(figure, "concept-drift checks per span"))
    rows = []
    for record in data.concept:
        if id(record) not in checked_ids:
            rows.append(
                [
                    Cell(str(record.span)),
                    Cell("–", "muted"),
                    Cell("", "text"),
                    Cell("–"),
                    Cell("–"),
                    Cell("–"),
                    Cell(record.verdict, "text muted"),
                ]
            )
            continue
        rows.append(
            [
                Cell(str(record.span)),
                Cell(data.concept_versions.get(record.span, "?")),
                Cell(record.metric, "text"),
                Cell(num(record.blessed_value, 4)),
                Cell(num(record.current_value, 4)),
                Cell(_drop_text(record), "bad" if record.drifted else ""),
                Cell(
                    "CONCEPT DRIFT" if record.drifted else record.verdict,
                    "bad text" if record.drifted else "text",
                ),
            ]
        )
    parts.append(
        table(["span", "pushed version", "metric", "at blessing", "on span", "drop", "verdict"], rows)
    )
    return "\n".join(parts)


def _drop_text(record) -> str:
    if record.metric in CONCEPT_LOWER_IS_BETTER and finite(record.drop):
        return f"{record.drop:+.1%}"  # the error's growth relative to its value at blessing
    return num(record.drop, 4)


def _limit(data: ReportData, record) -> float | None:
    """The worst value the check allows on a new span: a floor for scores, a ceiling for errors."""
    if record.metric in CONCEPT_LOWER_IS_BETTER:
        increase = data.concept_max_relative_increase
        return None if increase is None else record.blessed_value * (1 + increase)
    return None if data.concept_max_drop is None else record.blessed_value - data.concept_max_drop


def _concept_plot(data: ReportData, checked) -> Figure:
    """Per span: the pushed model at blessing (square, left) -> on the new span (dot, right)."""
    figure = new_figure(11, 3.8)
    axes = figure.add_subplot()
    shift = 0.08
    for record in checked:
        color = DRIFT_COLOR if record.drifted else "#1f77b4"
        axes.annotate(
            "",
            (record.span + shift, record.current_value),
            xytext=(record.span - shift, record.blessed_value),
            arrowprops={"arrowstyle": "-|>", "color": color, "linewidth": 1.5, "shrinkA": 5, "shrinkB": 5},
        )
        limit = _limit(data, record)
        if limit is not None:
            axes.plot(
                [record.span - 0.25, record.span + 0.25],
                [limit, limit],
                color="#777",
                linestyle="--",
                linewidth=1,
            )
        version = data.concept_versions.get(record.span)
        if version:
            axes.annotate(
                f"v{version}",
                (record.span - shift, record.blessed_value),
                xytext=(-8, 0),
                textcoords="offset points",
                ha="right",
                va="center",
                fontsize=8,
                color=PUSH_COLOR,
            )
        axes.annotate(
            ("CONCEPT DRIFT " if record.drifted else "")
            + f"{record.current_value - record.blessed_value:+.3f}",
            (record.span + shift, record.current_value),
            xytext=(8, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
            color=color,
            fontweight="bold" if record.drifted else "normal",
        )
    axes.scatter(
        [c.span - shift for c in checked],
        [c.blessed_value for c in checked],
        marker="s",
        s=50,
        color=PUSH_COLOR,
        label="pushed model at blessing",
        zorder=4,
    )
    axes.scatter(
        [c.span + shift for c in checked],
        [c.current_value for c in checked],
        marker="o",
        s=55,
        color=[DRIFT_COLOR if c.drifted else "#1f77b4" for c in checked],
        label="same model on the new span",
        zorder=4,
    )
    if any(c.drifted for c in checked):
        axes.scatter([], [], marker="o", s=55, color=DRIFT_COLOR, label="concept drift recorded")
    values = [c.blessed_value for c in checked] + [c.current_value for c in checked]
    limits = [(c.metric in CONCEPT_LOWER_IS_BETTER, _limit(data, c)) for c in checked]
    labels = {
        "highest value allowed" if lower else "lowest value allowed" for lower, x in limits if x is not None
    }
    for label in sorted(labels, reverse=True):  # "lowest" first: today's binary reports
        axes.plot([], [], color="#777", linestyle="--", linewidth=1, label=label)
    values += [limit for _, limit in limits if limit is not None]
    low, high = min(values), max(values)
    pad = max(0.02, (high - low) * 0.2)
    axes.set_ylim(low - pad, high + pad)
    spans = [c.span for c in checked]
    span_axis(axes, spans)
    axes.set_xlim(min(spans) - 0.6, max(spans) + 0.6)
    axes.set_ylabel(", ".join(sorted({c.metric for c in checked})))
    axes.set_title("Pushed model: metric at blessing vs on each new span")
    legend_outside(axes)
    return figure

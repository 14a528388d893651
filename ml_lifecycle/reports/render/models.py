"""Section 4 of the report, the models: the candidate's metrics per run, blessings, pushes and
failed runs.
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure

from ml_lifecycle.reports.collect import ReportData
from ml_lifecycle.reports.render.elements import (
    DRIFT_COLOR,
    PUSH_COLOR,
    Cell,
    empty,
    legend_outside,
    new_figure,
    num,
    png_img,
    table,
)

# Candidate metrics plotted per run (TFMA's names), in this order.
MODEL_METRICS = ("auc", "binary_accuracy")


def models_section(data: ReportData) -> str:
    if not data.runs:
        return empty("No pipeline runs recorded yet.")
    metrics = [m for m in MODEL_METRICS if any(m in r.metrics for r in data.runs)]
    parts = []
    if metrics:
        parts.append(
            "<p>The candidate model's overall metrics on its span's eval split, one point per run in "
            "run order. Filled markers: blessed; hollow: not blessed; green stars: pushed (with the "
            "version).</p>"
        )
        parts.append(png_img(_models_plot(data, metrics), "model metrics per run"))
    else:
        parts.append(empty("No run has evaluated a model yet."))
    rows = []
    for i, run in enumerate(data.runs, start=1):
        blessed = (
            Cell("–", "muted")
            if run.blessed is None
            else Cell("yes", "good")
            if run.blessed
            else Cell("no", "bad")
        )
        rows.append(
            [Cell(str(i)), Cell("–" if run.span is None else str(run.span))]
            + [Cell(num(run.metrics.get(m), 4)) for m in MODEL_METRICS]
            + [
                blessed,
                Cell(run.pushed_version or "–", "good" if run.pushed_version else "muted"),
                Cell(run.failed_component or "", "bad text" if run.failed_component else "text"),
                Cell(run.run_id, "text muted"),
            ]
        )
    parts.append(
        table(
            ["#", "span"] + list(MODEL_METRICS) + ["blessed", "pushed version", "failed in", "run id"], rows
        )
    )
    return "\n".join(parts)


def _models_plot(data: ReportData, metrics: Sequence[str]) -> Figure:
    figure = new_figure()
    axes = figure.add_subplot()
    xs = list(range(1, len(data.runs) + 1))
    palette = {"auc": "#1f77b4", "binary_accuracy": "#ff7f0e"}
    values = []
    for metric in metrics:
        color = palette.get(metric, "#9467bd")
        points = [(x, r.metrics[metric], r) for x, r in enumerate(data.runs, start=1) if metric in r.metrics]
        values += [y for _, y, _ in points]
        axes.plot(
            [x for x, _, _ in points], [y for _, y, _ in points], color=color, linewidth=1.3, label=metric
        )
        blessed = [(x, y) for x, y, r in points if r.blessed]
        others = [(x, y) for x, y, r in points if not r.blessed]
        axes.scatter([x for x, _ in blessed], [y for _, y in blessed], color=color, s=45, zorder=4)
        axes.scatter(
            [x for x, _ in others],
            [y for _, y in others],
            facecolors="white",
            edgecolors=color,
            s=45,
            linewidths=1.5,
            zorder=4,
        )
    axes.scatter([], [], color="#666", s=45, label="blessed")
    axes.scatter([], [], facecolors="white", edgecolors="#666", s=45, linewidths=1.5, label="not blessed")
    anchor = metrics[0]
    pushed_label = "pushed"
    for x, run in enumerate(data.runs, start=1):
        if run.pushed_version and anchor in run.metrics:
            y = run.metrics[anchor]
            axes.scatter(
                [x],
                [y],
                marker="*",
                s=260,
                color=PUSH_COLOR,
                edgecolors="black",
                linewidths=0.6,
                zorder=6,
                label=pushed_label,
            )
            pushed_label = None
            axes.annotate(
                f"v{run.pushed_version}",
                (x, y),
                xytext=(0, 10),
                textcoords="offset points",
                ha="center",
                fontsize=8,
                color=PUSH_COLOR,
                fontweight="bold",
            )
        if run.failed_component:
            axes.axvspan(x - 0.4, x + 0.4, color="#f4cccc", alpha=0.6, zorder=0)
            axes.annotate(
                f"failed\n{run.failed_component}",
                (x, 0.02),
                xycoords=("data", "axes fraction"),
                ha="center",
                fontsize=7,
                color=DRIFT_COLOR,
            )
    axes.set_xticks(xs)
    axes.set_xticklabels(
        [f"span {r.span}" if r.span is not None else "?" for r in data.runs],
        rotation=0 if len(xs) <= 12 else 45,
    )
    axes.set_xlabel("run (in run order)")
    if values:
        low, high = min(values), max(values)
        pad = max(0.02, (high - low) * 0.25)
        axes.set_ylim(max(0.0, low - pad), min(1.05, high + pad * 1.6))
    axes.set_xlim(0.5 - 0.3 * (len(xs) == 1), len(xs) + 0.5 + 0.3 * (len(xs) == 1))
    axes.grid(True, alpha=0.3)
    axes.set_ylabel("metric value")
    axes.set_title("Candidate model metrics per run")
    legend_outside(axes)
    return figure

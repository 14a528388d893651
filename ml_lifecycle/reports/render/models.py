"""Section 4 of the report, the models: the candidate's headline metrics per run (the task's,
`base.contracts.HEADLINE_METRICS`), blessings, pushes and failed runs; for a multiclass model
each class's recall beside them.

Metrics of one scale share an axis (`SCALES`: fractions such as AUC and accuracy, or errors in
the label's units); any other metric gets an axis of its own, so a squared error of 5e8 does not
flatten an RMSE of 2e4.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib.figure import Figure

from ml_lifecycle.base.contracts import HEADLINE_METRICS
from ml_lifecycle.metadata.metric_names import headline_names, metric_text
from ml_lifecycle.reports.collect import ReportData, RunPoint
from ml_lifecycle.reports.render.elements import (
    DRIFT_COLOR,
    PUSH_COLOR,
    Cell,
    empty,
    legend_outside,
    new_figure,
    png_img,
    table,
)


@dataclass(frozen=True)
class Scale:
    """An axis of the models plot: the metrics drawn on it share units."""

    label: str
    fraction: bool  # values lie in [0, 1]: the axis stays inside [0, 1.05]


FRACTION = Scale("metric value", fraction=True)
LABEL_UNITS = Scale("error (label units)", fraction=False)

# TFMA's names (without a class or averaging qualifier) -> the axis they are drawn on.
SCALES: dict[str, Scale] = {
    "auc": FRACTION,
    "binary_accuracy": FRACTION,
    "sparse_categorical_accuracy": FRACTION,
    "f1_score": FRACTION,
    "precision": FRACTION,
    "recall": FRACTION,
    "root_mean_squared_error": LABEL_UNITS,
    "mean_absolute_error": LABEL_UNITS,
}
# Headline metrics listed in the table but not plotted: a count says nothing about the model.
UNPLOTTED = ("example_count",)
# Lines per plotted metric, in headline order; no green, the pushed stars' colour.
PALETTE = ("#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#17becf", "#e377c2")


def models_section(data: ReportData) -> str:
    if not data.runs:
        return empty("No pipeline runs recorded yet.")
    task = data.model_task
    headline = headline_names(task, {name for run in data.runs for name in run.metrics}, data.gate_metric)
    plotted = [name for name in headline if _base(name) not in UNPLOTTED]
    parts = []
    if plotted:
        parts.append(
            f"<p>The candidate model's overall {task.value} metrics on its span's eval split, one point "
            "per run in run order. Filled markers: blessed; hollow: not blessed; green stars: pushed "
            "(with the version).</p>"
        )
        parts.append(png_img(_models_plot(data, plotted), "model metrics per run"))
    else:
        parts.append(empty("No run has evaluated a model yet."))
    # Before any evaluation the table still names the gating metric, with dashes.
    columns = (headline or [data.gate_metric or HEADLINE_METRICS[task][0]]) + _class_columns(data.runs)
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
            + [Cell("–" if m not in run.metrics else metric_text(m, run.metrics[m])) for m in columns]
            + [
                blessed,
                Cell(run.pushed_version or "–", "good" if run.pushed_version else "muted"),
                Cell(run.failed_component or "", "bad text" if run.failed_component else "text"),
                Cell(run.run_id, "text muted"),
            ]
        )
    parts.append(table(["#", "span"] + columns + ["blessed", "pushed version", "failed in", "run id"], rows))
    return "\n".join(parts)


def _class_columns(runs: Sequence[RunPoint]) -> list[str]:
    """Multiclass: a recall column per class of the newest model that names its classes."""
    classes = next((r.classes for r in reversed(runs) if r.classes), ())
    return [f"recall[{name}]" for name in classes if any(f"recall[{name}]" in r.metrics for r in runs)]


def _base(name: str) -> str:
    """A listed metric name without its class or averaging qualifier: f1_score[macro] -> f1_score."""
    return name.split("[", 1)[0]


def _axes_groups(metrics: Sequence[str]) -> list[tuple[Scale, list[str]]]:
    """The plot's axes, top to bottom: one per scale (in the order of its first metric), and one
    for each metric of no known scale."""
    groups: list[tuple[Scale, list[str]]] = []
    for metric in metrics:
        scale = SCALES.get(_base(metric))
        shared = next((names for s, names in groups if scale is not None and s is scale), None)
        if shared is not None:
            shared.append(metric)
        else:
            groups.append((scale or Scale(metric, fraction=False), [metric]))
    return groups


def _models_plot(data: ReportData, metrics: Sequence[str]) -> Figure:
    groups = _axes_groups(metrics)
    figure = new_figure(height=4.2 if len(groups) == 1 else 1.4 + 2.6 * len(groups))
    all_axes = figure.subplots(len(groups), 1, sharex=True, squeeze=False)[:, 0]
    colors = {metric: PALETTE[i % len(PALETTE)] for i, metric in enumerate(metrics)}
    for index, (axes, (scale, names)) in enumerate(zip(all_axes, groups, strict=True)):
        values = _metric_lines(axes, data.runs, names, colors)
        if index == 0:
            axes.scatter([], [], color="#666", s=45, label="blessed")
            axes.scatter(
                [], [], facecolors="white", edgecolors="#666", s=45, linewidths=1.5, label="not blessed"
            )
            # The stars sit on the gating metric: the configured gate's, else the task's default,
            # first either way (`headline_names`).
            _pushed_stars(axes, data.runs, metrics[0])
            axes.set_title("Candidate model metrics per run")
        _failed_runs(axes, data.runs, annotate=index == 0)
        _value_limits(axes, values, scale)
        axes.grid(True, alpha=0.3)
        axes.set_ylabel(scale.label)
        legend_outside(axes)
    xs = list(range(1, len(data.runs) + 1))
    bottom = all_axes[-1]
    bottom.set_xticks(xs)
    bottom.set_xticklabels(
        [f"span {r.span}" if r.span is not None else "?" for r in data.runs],
        rotation=0 if len(xs) <= 12 else 45,
    )
    bottom.set_xlabel("run (in run order)")
    bottom.set_xlim(0.5 - 0.3 * (len(xs) == 1), len(xs) + 0.5 + 0.3 * (len(xs) == 1))
    return figure


def _metric_lines(
    axes, runs: Sequence[RunPoint], names: Sequence[str], colors: dict[str, str]
) -> list[float]:
    """Each metric's line over the runs that have it, blessed points filled; returns the values drawn."""
    values = []
    for metric in names:
        color = colors[metric]
        points = [(x, r.metrics[metric], r) for x, r in enumerate(runs, start=1) if metric in r.metrics]
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
    return values


def _pushed_stars(axes, runs: Sequence[RunPoint], anchor: str) -> None:
    pushed_label = "pushed"
    for x, run in enumerate(runs, start=1):
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


def _failed_runs(axes, runs: Sequence[RunPoint], annotate: bool) -> None:
    for x, run in enumerate(runs, start=1):
        if run.failed_component:
            axes.axvspan(x - 0.4, x + 0.4, color="#f4cccc", alpha=0.6, zorder=0)
            if annotate:
                axes.annotate(
                    f"failed\n{run.failed_component}",
                    (x, 0.02),
                    xycoords=("data", "axes fraction"),
                    ha="center",
                    fontsize=7,
                    color=DRIFT_COLOR,
                )


def _value_limits(axes, values: Sequence[float], scale: Scale) -> None:
    if not values:
        return
    low, high = min(values), max(values)
    if scale.fraction:
        pad = max(0.02, (high - low) * 0.25)
        axes.set_ylim(max(0.0, low - pad), min(1.05, high + pad * 1.6))
    else:
        pad = max((high - low) * 0.25, abs(high) * 0.02, 1e-6)
        axes.set_ylim(low - pad, high + pad * 1.6)

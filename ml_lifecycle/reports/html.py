"""Renders ReportData as one self-contained HTML page: embedded PNG plots, small tables, no JS.

`render_report` is pure (dataclasses in, text out), so tests build ReportData by hand. Plots are
drawn on Agg canvases directly, never through pyplot, so rendering leaves no global state.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ml_lifecycle.reports.collect import ReportData

# Candidate metrics plotted per run (TFMA's names), in this order.
MODEL_METRICS = ("auc", "binary_accuracy")
# PSI rules of thumb: below 0.1 stable, 0.1-0.25 moderate shift, above 0.25 significant shift.
PSI_BANDS = (0.1, 0.25)
DRIFT_COLOR = "#d62728"
PUSH_COLOR = "#2ca02c"

SECTIONS = (
    ("drift", "1. Data drift per feature"),
    ("examples", "2. Examples per span"),
    ("missing", "3. Missing values per feature"),
    ("models", "4. Model metrics per run"),
    ("concept", "5. Concept-drift checks"),
)

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0 auto;
       max-width: 1150px; padding: 1em 1.5em 3em; color: #222; line-height: 1.4; }
h1 { margin-bottom: 0.2em; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
h3 { margin-bottom: 0.3em; }
.meta { color: #555; font-size: 0.9em; }
nav a { margin-right: 1em; }
img { max-width: 100%; height: auto; display: block; margin: 0.5em 0; }
.table-wrap { overflow-x: auto; margin: 0.5em 0 1em; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; text-align: center; }
td.text, th.text { text-align: left; }
td.bad { color: #b00; font-weight: bold; background: #fdecea; }
td.good { color: #1a7f37; }
td.muted { color: #888; }
p.empty { color: #666; font-style: italic; }
.notes { color: #8a5a00; font-size: 0.9em; }
"""


@dataclass(frozen=True)
class Cell:
    text: str
    css: str = ""  # bad | good | muted | text


def render_report(data: ReportData) -> str:
    """The whole page as an HTML string."""
    body = [_header(data)]
    body.append(_section("drift", _drift_section(data)))
    body.append(_section("examples", _examples_section(data)))
    body.append(_section("missing", _missing_section(data)))
    body.append(_section("models", _models_section(data)))
    body.append(_section("concept", _concept_section(data)))
    title = f"ml-lifecycle report: {data.pipeline_name}"
    return (
        "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
        f"<title>{_esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


# ---------------------------------------------------------------------------------------- pieces


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _num(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _empty(sentence: str) -> str:
    return f"<p class='empty'>{_esc(sentence)}</p>"


def _table(headers: Sequence[str], rows: Iterable[Sequence[Cell | str]]) -> str:
    """A table; the first column (a name or a span) left-aligned, the rest as their cells say."""
    head = "".join(f"<th{' class=text' if i == 0 else ''}>{_esc(h)}</th>" for i, h in enumerate(headers))
    parts = [f"<div class='table-wrap'><table><tr>{head}</tr>"]
    for row in rows:
        cells = []
        for cell in row:
            cell = cell if isinstance(cell, Cell) else Cell(str(cell))
            css = f" class='{cell.css}'" if cell.css else ""
            cells.append(f"<td{css}>{_esc(cell.text)}</td>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</table></div>")
    return "".join(parts)


def _figure(width: float = 11.0, height: float = 4.2) -> Figure:
    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _img(figure: Figure, alt: str) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"<img alt='{_esc(alt)}' src='data:image/png;base64,{encoded}'>"


def _section(key: str, content: str) -> str:
    title = dict(SECTIONS)[key]
    return f"<section id='{key}'>\n<h2>{_esc(title)}</h2>\n{content}\n</section>"


def _header(data: ReportData) -> str:
    facts = [f"pipeline <b>{_esc(data.pipeline_name)}</b>"]
    if data.dataset_name:
        facts.append(f"dataset <b>{_esc(data.dataset_name)}</b>")
    facts.append(
        f"{len(data.runs)} run(s), {len(data.spans)} span(s) with statistics, {len(data.pushed)} push(es)"
    )
    if data.drift_baseline:
        facts.append(f"drift baseline: {_esc(data.drift_baseline)}, policy {_esc(data.drift_policy)}")
    lines = [f"<h1>{_esc(data.pipeline_name)}: data and models across runs</h1>"]
    lines.append(f"<p class='meta'>{' · '.join(facts)}</p>")
    source = []
    if data.metadata_file:
        source.append(f"metadata store {_esc(data.metadata_file)}")
    if data.generated_at:
        source.append(f"generated {_esc(data.generated_at)}")
    if source:
        lines.append(f"<p class='meta'>{' · '.join(source)}</p>")
    lines.append("<nav>" + "".join(f"<a href='#{k}'>{_esc(t)}</a>" for k, t in SECTIONS) + "</nav>")
    if data.notes:
        lines.append("<ul class='notes'>" + "".join(f"<li>{_esc(n)}</li>" for n in data.notes) + "</ul>")
    return "\n".join(lines)


def _span_axis(axes, spans: Sequence[int]) -> None:
    axes.set_xticks(list(spans))
    axes.set_xticklabels([str(s) for s in spans])
    axes.set_xlabel("span")
    if len(spans) == 1:
        axes.set_xlim(spans[0] - 1, spans[0] + 1)
    axes.grid(True, alpha=0.3)


def _styles(names: Sequence[str]) -> dict[str, dict]:
    """Colour and line style per name: tab10 colours, then the same colours dashed, then dotted."""
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    dashes = ("-", "--", ":")
    return {
        name: {"color": cmap(i % 10), "linestyle": dashes[(i // 10) % len(dashes)]}
        for i, name in enumerate(names)
    }


def _legend_outside(axes, **kwargs) -> None:
    handles, labels = axes.get_legend_handles_labels()
    if handles:
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False, **kwargs)


# ---------------------------------------------------------------------------------- 1. data drift


def _drift_section(data: ReportData) -> str:
    if not data.drift:
        return _empty("No drift reports recorded yet: run the pipeline on at least one span.")
    compared = [r for r in data.drift if r.features]
    first = [r.span for r in data.drift if r.verdict == "no_baseline"]
    intro = ""
    if first:
        intro = _empty(
            f"Span(s) {', '.join(map(str, first))}: no baseline yet (nothing earlier to compare with)."
        )
    if not compared:
        return intro + _empty("No span has been compared with a baseline yet, so there are no drift scores.")
    spans = [r.span for r in compared]
    names = sorted({n for r in compared for n in r.features})
    styles = _styles(names)
    parts = [intro, "<h3>Drift score per feature</h3>"]
    parts.append(
        "<p>Score of each feature against the baseline span (L-infinity distance for categorical "
        "features, Jensen-Shannon divergence for numeric ones); dashed lines are the schema's "
        "thresholds, red rings mark scores over their feature's threshold.</p>"
    )
    parts.append(_img(_drift_score_plot(compared, names, styles), "drift score per feature over spans"))

    psi_names = [
        n for n in names if any(r.features.get(n) and r.features[n].psi is not None for r in compared)
    ]
    parts.append("<h3>Population stability index per feature</h3>")
    if psi_names:
        parts.append(
            f"<p>PSI against the baseline span; dotted lines at {PSI_BANDS[0]} and {PSI_BANDS[1]} "
            "(the usual 'moderate' and 'significant' shift rules of thumb). PSI is shown for "
            "context; the drift verdict comes from the scores above.</p>"
        )
        parts.append(_img(_psi_plot(compared, psi_names, styles), "PSI per feature over spans"))
    else:
        parts.append(_empty("No PSI was recorded for any feature."))

    parts.append("<h3>Verdicts</h3>")
    rows = []
    for record in data.drift:
        drifted = sorted(n for n, s in record.features.items() if s.drifted)
        rows.append(
            [
                Cell(str(record.span)),
                Cell(
                    "–" if record.baseline_span is None else str(record.baseline_span),
                    "muted" if record.baseline_span is None else "",
                ),
                Cell(record.verdict, "bad text" if record.verdict == "drift" else "text"),
                Cell(", ".join(drifted) or "none", "bad text" if drifted else "text"),
                Cell(_num(record.max_score) if record.features else "–"),
                Cell(
                    _num(record.example_count_ratio, 2) if record.example_count_ratio is not None else "–",
                    "bad" if record.dataset_drift else "",
                ),
                Cell(record.policy, "text"),
            ]
        )
    parts.append(
        _table(
            [
                "span",
                "baseline span",
                "verdict",
                "drifted features",
                "max score",
                "examples vs baseline",
                "policy",
            ],
            rows,
        )
    )
    parts.append("<h3>Scores (PSI in brackets; * over threshold)</h3>")
    matrix = []
    for name in names:
        row = [Cell(name, "text")]
        thresholds = {r.features[name].threshold for r in compared if name in r.features}
        row.append(Cell(", ".join(_num(t) for t in sorted(thresholds))))
        for record in compared:
            score = record.features.get(name)
            if score is None:
                row.append(Cell("–", "muted"))
                continue
            text = _num(score.score) + (f" ({_num(score.psi)})" if score.psi is not None else "")
            row.append(Cell(text + (" *" if score.drifted else ""), "bad" if score.drifted else ""))
        matrix.append(row)
    parts.append(_table(["feature", "threshold"] + [f"span {s}" for s in spans], matrix))
    return "\n".join(p for p in parts if p)


def _feature_lines(axes, records, names, styles, value, flagged, ring: bool, floor: float = 0.0) -> None:
    """One line per feature over the records' spans; flagged points named (and ringed if `ring`)."""
    last_span = max(r.span for r in records)
    for name in names:
        points = [(r, value(r.features[name])) for r in records if name in r.features]
        points = [(r, max(y, floor)) for r, y in points if y is not None]
        axes.plot(
            [r.span for r, _ in points],
            [y for _, y in points],
            marker="o",
            markersize=4,
            linewidth=1.4,
            label=name,
            **styles[name],
        )
        for record, y in points:
            if not flagged(record.features[name]):
                continue
            if ring:
                axes.scatter(
                    [record.span],
                    [y],
                    s=140,
                    facecolors="none",
                    edgecolors=DRIFT_COLOR,
                    linewidths=2,
                    zorder=5,
                )
            right = record.span == last_span
            axes.annotate(
                name,
                (record.span, y),
                xytext=(-9 if right else 9, 3),
                textcoords="offset points",
                ha="right" if right else "left",
                va="bottom",
                fontsize=8,
                color=DRIFT_COLOR,
            )


def _drift_score_plot(records, names, styles) -> Figure:
    figure = _figure()
    axes = figure.add_subplot()
    spans = [r.span for r in records]
    _feature_lines(axes, records, names, styles, lambda f: f.score, lambda f: f.drifted, ring=True)
    axes.scatter(
        [],
        [],
        s=140,
        facecolors="none",
        edgecolors=DRIFT_COLOR,
        linewidths=2,
        label="drifted (over threshold)",
    )
    thresholds: dict[float, list[str]] = {}
    for name in names:
        for record in records:
            if name in record.features:
                owners = thresholds.setdefault(round(record.features[name].threshold, 6), [])
                if name not in owners:
                    owners.append(name)
    for value, owners in sorted(thresholds.items()):
        axes.axhline(value, color="#555", linestyle="--", linewidth=1)
        label = f"threshold {value:g}"
        if len(thresholds) > 1:
            label += f": {', '.join(owners)}" if len(owners) <= 3 else f" ({len(owners)} features)"
        axes.annotate(
            label,
            (0.0, value),
            xycoords=("axes fraction", "data"),
            xytext=(4, 3),
            textcoords="offset points",
            fontsize=8,
            color="#555",
        )
    _span_axis(axes, spans)
    axes.set_ylabel("drift score")
    top = max([f.score for r in records for f in r.features.values()] + list(thresholds))
    axes.set_ylim(0, top * 1.15 if top > 0 else 1)
    axes.set_title("Drift score per feature vs the baseline span")
    _legend_outside(axes, ncols=1 if len(names) <= 16 else 2)
    return figure


def _psi_plot(records, names, styles) -> Figure:
    figure = _figure()
    axes = figure.add_subplot()
    spans = [r.span for r in records]
    values = [
        r.features[n].psi for r in records for n in names if n in r.features and r.features[n].psi is not None
    ]
    positive = [v for v in values if v > 0]
    # One feature with a new category mix (PSI in the tens) would flatten everything else.
    log = bool(positive) and max(positive) / min(positive) > 30
    floor = min(positive) / 2 if log else 0.0
    _feature_lines(
        axes,
        records,
        names,
        styles,
        lambda f: f.psi,
        lambda f: (f.psi or 0) > PSI_BANDS[1],
        ring=False,
        floor=floor,
    )
    for band in PSI_BANDS:
        axes.axhline(band, color="#777", linestyle=":", linewidth=1)
    _span_axis(axes, spans)
    if log:
        axes.set_yscale("log")
        axes.set_ylim(floor / 1.5, max(positive) * 2)
        axes.set_ylabel("PSI (log scale)")
    else:
        axes.set_ylim(0, max([0.3] + values) * 1.15)
        axes.set_ylabel("PSI")
    axes.set_title(f"Population stability index per feature (named: PSI above {PSI_BANDS[1]})")
    _legend_outside(axes, ncols=1 if len(names) <= 16 else 2)
    return figure


# ------------------------------------------------------------------------------- 2. example count


def _examples_section(data: ReportData) -> str:
    if not data.spans:
        return _empty("No statistics recorded yet: no span has been through StatisticsGen.")
    drift_by_span = {r.span: r for r in data.drift}
    splits = sorted(
        {s for span in data.spans for s in span.examples_per_split}, key=lambda s: (s != "train", s)
    )
    figure = _figure(11, 3.8)
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
    _span_axis(axes, xs)
    axes.set_ylabel("examples")
    axes.set_title("Examples per span, by split (label: total, drift baseline and count ratio to it)")
    _legend_outside(axes)
    parts = [_img(figure, "examples per span")]
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
                Cell(_num(ratio, 2), "bad" if record is not None and record.dataset_drift else ""),
            ]
        )
    parts.append(_table(["span"] + splits + ["total", "drift baseline span", "ratio to baseline"], rows))
    parts.append(
        "<p class='meta'>Ratio to baseline: the drift check's example-count ratio, measured on the split "
        "it compares (train by default); red where it counts as dataset drift.</p>"
    )
    return "\n".join(parts)


# ------------------------------------------------------------------------------ 3. missing values


def _missing_section(data: ReportData) -> str:
    if not data.spans:
        return _empty("No statistics recorded yet.")
    names = sorted({n for s in data.spans for n in s.missing_fraction})
    missing = [n for n in names if any(s.missing_fraction.get(n, 0) > 0 for s in data.spans)]
    complete = [n for n in names if n not in missing]
    parts = [
        "<p>Share of each span's examples (all splits) in which the feature has no value: absent, "
        "or an empty CSV cell.</p>"
    ]
    if not missing:
        parts.append(_empty("No feature has a missing value in any span."))
        return "\n".join(parts)
    styles = _styles(missing)
    figure = _figure(11, 3.8)
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
    _span_axis(axes, xs)
    axes.set_ylabel("% of examples without a value")
    axes.set_ylim(bottom=0)
    axes.set_title("Missing values per feature (features never missing are left out)")
    _legend_outside(axes)
    parts.append(_img(figure, "missing-value fraction per feature over spans"))
    rows = []
    for name in missing:
        rows.append(
            [Cell(name, "text")]
            + [
                Cell(_pct(s.missing_fraction.get(name)), "muted" if not s.missing_fraction.get(name) else "")
                for s in data.spans
            ]
        )
    parts.append(_table(["feature"] + [f"span {s}" for s in xs], rows))
    if complete:
        parts.append(f"<p class='meta'>Never missing: {_esc(', '.join(complete))}.</p>")
    return "\n".join(parts)


# -------------------------------------------------------------------------------- 4. model metrics


def _models_section(data: ReportData) -> str:
    if not data.runs:
        return _empty("No pipeline runs recorded yet.")
    metrics = [m for m in MODEL_METRICS if any(m in r.metrics for r in data.runs)]
    parts = []
    if metrics:
        parts.append(
            "<p>The candidate model's overall metrics on its span's eval split, one point per run in "
            "run order. Filled markers: blessed; hollow: not blessed; green stars: pushed (with the "
            "version).</p>"
        )
        parts.append(_img(_models_plot(data, metrics), "model metrics per run"))
    else:
        parts.append(_empty("No run has evaluated a model yet."))
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
            + [Cell(_num(run.metrics.get(m), 4)) for m in MODEL_METRICS]
            + [
                blessed,
                Cell(run.pushed_version or "–", "good" if run.pushed_version else "muted"),
                Cell(run.failed_component or "", "bad text" if run.failed_component else "text"),
                Cell(run.run_id, "text muted"),
            ]
        )
    parts.append(
        _table(
            ["#", "span"] + list(MODEL_METRICS) + ["blessed", "pushed version", "failed in", "run id"], rows
        )
    )
    return "\n".join(parts)


def _models_plot(data: ReportData, metrics: Sequence[str]) -> Figure:
    figure = _figure()
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
    _legend_outside(axes)
    return figure


# ---------------------------------------------------------------------------------- 5. concept drift


def _concept_section(data: ReportData) -> str:
    if not data.concept:
        return _empty("No concept-drift checks recorded yet.")
    checked = [
        c
        for c in data.concept
        if c.verdict != "no_pushed_model" and _finite(c.blessed_value) and _finite(c.current_value)
    ]
    checked_ids = {id(c) for c in checked}
    waiting = [c.span for c in data.concept if c.verdict == "no_pushed_model"]
    unmeasured = [c.span for c in data.concept if id(c) not in checked_ids and c.verdict != "no_pushed_model"]
    parts = []
    if waiting:
        parts.append(_empty(f"Span(s) {', '.join(map(str, waiting))}: no pushed model to check yet."))
    if unmeasured:
        parts.append(
            _empty(
                f"Span(s) {', '.join(map(str, unmeasured))}: the metric could not be measured "
                "(e.g. only one class in the span)."
            )
        )
    if not checked:
        parts.append(_empty("No span has been checked against a pushed model yet."))
        return "\n".join(parts)
    allowed = f" (allowed drop {data.concept_max_drop:g})" if data.concept_max_drop is not None else ""
    parts.append(
        "<p>The pushed model's metric on its own eval data when it was blessed, against the same "
        f"model's metric on each new span{_esc(allowed)}. Red: concept drift recorded.</p>"
    )
    figure = _concept_plot(data, checked)
    parts.append(_img(figure, "concept-drift checks per span"))
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
                Cell(_num(record.blessed_value, 4)),
                Cell(_num(record.current_value, 4)),
                Cell(_num(record.drop, 4), "bad" if record.drifted else ""),
                Cell(
                    "CONCEPT DRIFT" if record.drifted else record.verdict,
                    "bad text" if record.drifted else "text",
                ),
            ]
        )
    parts.append(
        _table(["span", "pushed version", "metric", "at blessing", "on span", "drop", "verdict"], rows)
    )
    return "\n".join(parts)


def _concept_plot(data: ReportData, checked) -> Figure:
    """Per span: the pushed model at blessing (square, left) -> on the new span (dot, right)."""
    figure = _figure(11, 3.8)
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
        if data.concept_max_drop is not None:
            floor = record.blessed_value - data.concept_max_drop
            axes.plot(
                [record.span - 0.25, record.span + 0.25],
                [floor, floor],
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
    if data.concept_max_drop is not None:
        axes.plot([], [], color="#777", linestyle="--", linewidth=1, label="lowest value allowed")
        values += [c.blessed_value - data.concept_max_drop for c in checked]
    low, high = min(values), max(values)
    pad = max(0.02, (high - low) * 0.2)
    axes.set_ylim(low - pad, high + pad)
    spans = [c.span for c in checked]
    _span_axis(axes, spans)
    axes.set_xlim(min(spans) - 0.6, max(spans) + 0.6)
    axes.set_ylabel(", ".join(sorted({c.metric for c in checked})))
    axes.set_title("Pushed model: metric at blessing vs on each new span")
    _legend_outside(axes)
    return figure

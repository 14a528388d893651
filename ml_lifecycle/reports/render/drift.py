"""Section 1 of the report, data drift: each feature's drift score and PSI against the baseline
span over the spans, the verdicts, and the score matrix.
"""

from __future__ import annotations

from matplotlib.figure import Figure

from ml_lifecycle.base.contracts import DriftVerdict
from ml_lifecycle.reports.collect import ReportData
from ml_lifecycle.reports.render.elements import (
    DRIFT_COLOR,
    Cell,
    empty,
    legend_outside,
    line_styles,
    new_figure,
    num,
    png_img,
    span_axis,
    table,
)

# PSI rules of thumb: below 0.1 stable, 0.1-0.25 moderate shift, above 0.25 significant shift.
PSI_BANDS = (0.1, 0.25)


def drift_section(data: ReportData) -> str:
    if not data.drift:
        return empty("No drift reports recorded yet: run the pipeline on at least one span.")
    compared = [r for r in data.drift if r.features]
    first = [r.span for r in data.drift if r.verdict == DriftVerdict.NO_BASELINE]
    intro = ""
    if first:
        intro = empty(
            f"Span(s) {', '.join(map(str, first))}: no baseline yet (nothing earlier to compare with)."
        )
    if not compared:
        return intro + empty("No span has been compared with a baseline yet, so there are no drift scores.")
    spans = [r.span for r in compared]
    names = sorted({n for r in compared for n in r.features})
    styles = line_styles(names)
    parts = [intro, "<h3>Drift score per feature</h3>"]
    parts.append(
        "<p>Score of each feature against the baseline span (L-infinity distance for categorical "
        "features, Jensen-Shannon divergence for numeric ones); dashed lines are the schema's "
        "thresholds, red rings mark scores over their feature's threshold.</p>"
    )
    parts.append(png_img(_drift_score_plot(compared, names, styles), "drift score per feature over spans"))

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
        parts.append(png_img(_psi_plot(compared, psi_names, styles), "PSI per feature over spans"))
    else:
        parts.append(empty("No PSI was recorded for any feature."))

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
                Cell(record.verdict, "bad text" if record.verdict == DriftVerdict.DRIFT else "text"),
                Cell(", ".join(drifted) or "none", "bad text" if drifted else "text"),
                Cell(num(record.max_score) if record.features else "–"),
                Cell(
                    num(record.example_count_ratio, 2) if record.example_count_ratio is not None else "–",
                    "bad" if record.dataset_drift else "",
                ),
                Cell(record.policy, "text"),
            ]
        )
    parts.append(
        table(
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
        row.append(Cell(", ".join(num(t) for t in sorted(thresholds))))
        for record in compared:
            score = record.features.get(name)
            if score is None:
                row.append(Cell("–", "muted"))
                continue
            text = num(score.score) + (f" ({num(score.psi)})" if score.psi is not None else "")
            row.append(Cell(text + (" *" if score.drifted else ""), "bad" if score.drifted else ""))
        matrix.append(row)
    parts.append(table(["feature", "threshold"] + [f"span {s}" for s in spans], matrix))
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
    figure = new_figure()
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
    span_axis(axes, spans)
    axes.set_ylabel("drift score")
    top = max([f.score for r in records for f in r.features.values()] + list(thresholds))
    axes.set_ylim(0, top * 1.15 if top > 0 else 1)
    axes.set_title("Drift score per feature vs the baseline span")
    legend_outside(axes, ncols=1 if len(names) <= 16 else 2)
    return figure


def _psi_plot(records, names, styles) -> Figure:
    figure = new_figure()
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
    span_axis(axes, spans)
    if log:
        axes.set_yscale("log")
        axes.set_ylim(floor / 1.5, max(positive) * 2)
        axes.set_ylabel("PSI (log scale)")
    else:
        axes.set_ylim(0, max([0.3] + values) * 1.15)
        axes.set_ylabel("PSI")
    axes.set_title(f"Population stability index per feature (named: PSI above {PSI_BANDS[1]})")
    legend_outside(axes, ncols=1 if len(names) <= 16 else 2)
    return figure

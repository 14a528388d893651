"""The pieces every section of the report is built from: escaped text, number formats, tables
of `Cell`s, and Agg figures embedded as PNG data URIs (drawn without pyplot: no global state).
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

DRIFT_COLOR = "#d62728"
PUSH_COLOR = "#2ca02c"


@dataclass(frozen=True)
class Cell:
    text: str
    css: str = ""  # bad | good | muted | text


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def num(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def empty(sentence: str) -> str:
    return f"<p class='empty'>{esc(sentence)}</p>"


def table(headers: Sequence[str], rows: Iterable[Sequence[Cell | str]]) -> str:
    """A table; the first column (a name or a span) left-aligned, the rest as their cells say."""
    head = "".join(f"<th{' class=text' if i == 0 else ''}>{esc(h)}</th>" for i, h in enumerate(headers))
    parts = [f"<div class='table-wrap'><table><tr>{head}</tr>"]
    for row in rows:
        cells = []
        for cell in row:
            cell = cell if isinstance(cell, Cell) else Cell(str(cell))
            css = f" class='{cell.css}'" if cell.css else ""
            cells.append(f"<td{css}>{esc(cell.text)}</td>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</table></div>")
    return "".join(parts)


def new_figure(width: float = 11.0, height: float = 4.2) -> Figure:
    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def png_img(figure: Figure, alt: str) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"<img alt='{esc(alt)}' src='data:image/png;base64,{encoded}'>"


def span_axis(axes, spans: Sequence[int]) -> None:
    axes.set_xticks(list(spans))
    axes.set_xticklabels([str(s) for s in spans])
    axes.set_xlabel("span")
    if len(spans) == 1:
        axes.set_xlim(spans[0] - 1, spans[0] + 1)
    axes.grid(True, alpha=0.3)


def line_styles(names: Sequence[str]) -> dict[str, dict]:
    """Colour and line style per name: tab10 colours, then the same colours dashed, then dotted."""
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    dashes = ("-", "--", ":")
    return {
        name: {"color": cmap(i % 10), "linestyle": dashes[(i // 10) % len(dashes)]}
        for i, name in enumerate(names)
    }


def legend_outside(axes, **kwargs) -> None:
    handles, labels = axes.get_legend_handles_labels()
    if handles:
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False, **kwargs)

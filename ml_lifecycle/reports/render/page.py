"""Renders ReportData as one self-contained HTML page: embedded PNG plots, small tables, no JS.

`render_report` is pure (dataclasses in, text out), so tests build ReportData by hand; the page
is the header and one section per chart family (`render.drift`, `.data`, `.models`, `.concept`).
"""

from __future__ import annotations

from ml_lifecycle.reports.collect import ReportData
from ml_lifecycle.reports.render.concept import concept_section
from ml_lifecycle.reports.render.data import examples_section, missing_section
from ml_lifecycle.reports.render.drift import drift_section
from ml_lifecycle.reports.render.elements import esc
from ml_lifecycle.reports.render.models import models_section

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


def render_report(data: ReportData) -> str:
    """The whole page as an HTML string."""
    body = [_header(data)]
    body.append(_section("drift", drift_section(data)))
    body.append(_section("examples", examples_section(data)))
    body.append(_section("missing", missing_section(data)))
    body.append(_section("models", models_section(data)))
    body.append(_section("concept", concept_section(data)))
    title = f"ml-lifecycle report: {data.pipeline_name}"
    return (
        "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def _section(key: str, content: str) -> str:
    title = dict(SECTIONS)[key]
    return f"<section id='{key}'>\n<h2>{esc(title)}</h2>\n{content}\n</section>"


def _header(data: ReportData) -> str:
    facts = [f"pipeline <b>{esc(data.pipeline_name)}</b>"]
    if data.dataset_name:
        facts.append(f"dataset <b>{esc(data.dataset_name)}</b>")
    facts.append(
        f"{len(data.runs)} run(s), {len(data.spans)} span(s) with statistics, {len(data.pushed)} push(es)"
    )
    if data.drift_baseline:
        facts.append(f"drift baseline: {esc(data.drift_baseline)}, policy {esc(data.drift_policy)}")
    lines = [f"<h1>{esc(data.pipeline_name)}: data and models across runs</h1>"]
    lines.append(f"<p class='meta'>{' · '.join(facts)}</p>")
    source = []
    if data.metadata_file:
        source.append(f"metadata store {esc(data.metadata_file)}")
    if data.generated_at:
        source.append(f"generated {esc(data.generated_at)}")
    if source:
        lines.append(f"<p class='meta'>{' · '.join(source)}</p>")
    lines.append("<nav>" + "".join(f"<a href='#{k}'>{esc(t)}</a>" for k, t in SECTIONS) + "</nav>")
    if data.notes:
        lines.append("<ul class='notes'>" + "".join(f"<li>{esc(n)}</li>" for n in data.notes) + "</ul>")
    return "\n".join(lines)

"""A static HTML report of how the data and the models evolve across pipeline runs.

`write_report(config, out_dir)` collects everything through the metadata read API
(`reports.collect`), renders one self-contained page (`reports.render.page`: plots are embedded
PNGs, there is no JavaScript and nothing to serve) and writes it.
"""

from __future__ import annotations

from pathlib import Path


def write_report(config, out_dir: str | Path) -> Path:
    """Writes `out_dir/index.html` for the pipeline `config` (a PipelineConfig); returns its path.

    Raises store.connection.StoreNotFoundError when the pipeline has never run.
    """
    from ml_lifecycle.reports.collect import collect_report
    from ml_lifecycle.reports.render.page import render_report

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    page = render_report(collect_report(config))
    path = out_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


__all__ = ["write_report"]

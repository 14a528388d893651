"""The Grafana dashboard shipped in the package: every query reads metrics a real Monitor exports,
filters by the model variable, is valid PromQL (promtool), and the panels the brief names exist."""

from __future__ import annotations

import json
import re
from importlib import resources

import pytest
import yaml

from tests.unit.serving.observability.monitor_traffic import (
    exported_sample_names,
    metric_names,
    monitor_with_every_series,
    run_promtool,
)

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
# A metric selector: the name, then its matchers if any.
SELECTOR = re.compile(r"\b(lifecycle_serving_[A-Za-z0-9_]+)(\{[^}]*\})?|(\{__name__=~[^}]*\})")
SERVER_WIDE = {"lifecycle_serving_prediction_log_records_total"}  # no model label
# What Grafana substitutes before a query reaches Prometheus.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$model": ".*"}


@pytest.fixture(scope="module")
def dashboard() -> dict:
    text = (
        resources.files("ml_lifecycle.serving.observability").joinpath("dashboards/serving.json").read_text()
    )
    return json.loads(text)


def _panels(dashboard: dict) -> list[dict]:
    return [panel for panel in dashboard["panels"] if panel["type"] != "row"]


def _queries(dashboard: dict) -> list[tuple[str, str]]:
    return [(panel["title"], target["expr"]) for panel in _panels(dashboard) for target in panel["targets"]]


@pytest.fixture(scope="module")
def exported() -> set[str]:
    return exported_sample_names(monitor_with_every_series().prometheus_text())


def test_every_query_reads_only_metrics_a_real_monitor_exports(dashboard, exported):
    queries = _queries(dashboard)
    assert len(queries) >= 20
    for title, expr in queries:
        read = metric_names(expr)
        assert read, (title, expr)
        assert read <= exported, (title, sorted(read - exported))


def test_the_model_variable_lists_exported_models_and_every_model_series_is_filtered_by_it(
    dashboard, exported
):
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    model = variables["model"]
    assert model["type"] == "query" and model["datasource"] == DATASOURCE
    assert model["multi"] and model["includeAll"]
    match = re.fullmatch(r"label_values\((\w+), model\)", model["query"]["query"])
    assert match and match.group(1) in exported
    for title, expr in _queries(dashboard):
        for name, matchers, by_name in SELECTOR.findall(expr):
            if name in SERVER_WIDE:
                continue
            assert 'model=~"$model' in (matchers or by_name), (title, expr)


def test_every_panel_queries_the_chosen_prometheus_and_has_a_place_of_its_own(dashboard):
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24, panel["title"]
        area = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not area & cells, f"{panel['title']} overlaps another panel"
        cells |= area
    for panel in _panels(dashboard):
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        assert all(target["datasource"] == DATASOURCE for target in panel["targets"]), panel["title"]


@pytest.mark.parametrize(
    "topic, pattern",
    [
        (
            "requests by model, version, route, status class",
            r"sum by \(model, version, route, status_class\) "
            r"\(rate\(lifecycle_serving_requests_total\b",
        ),
        ("errors", r"rate\(lifecycle_serving_request_errors_total\b"),
        (
            "latency quantiles",
            r"histogram_quantile\(0\.99, sum by \(model, le\) \(rate\("
            r"lifecycle_serving_request_latency_seconds_bucket\b",
        ),
        ("input missing share", r"\blifecycle_serving_input_missing_fraction\b"),
        ("input out-of-schema share", r"\blifecycle_serving_input_out_of_schema_fraction\b"),
        ("score distribution", r"increase\(lifecycle_serving_score_bucket\b"),
        ("deferred fraction", r"\blifecycle_serving_deferred_fraction\b"),
        ("shadow agreement", r"\blifecycle_serving_shadow_agreement\b"),
    ],
)
def test_the_panels_the_issue_names_are_there(dashboard, topic, pattern):
    assert any(re.search(pattern, expr) for _, expr in _queries(dashboard)), topic


def test_every_query_is_valid_promql(dashboard, tmp_path):
    rules = []
    for index, (_, expr) in enumerate(_queries(dashboard)):
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, expr
        rules.append({"record": f"dashboard:query_{index}", "expr": expr})
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    checked = run_promtool("check", "rules", path, cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(rules)} rules found" in checked.stdout

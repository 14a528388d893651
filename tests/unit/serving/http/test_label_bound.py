"""Client-chosen strings in URLs never become metric series: 10,000 distinct unknown labels leave
the metrics page as it was after the first hundred."""

from __future__ import annotations

import tracemalloc

from ml_lifecycle.config.serving import MonitoringConfig
from ml_lifecycle.serving.http.api import ServingApi, ServingServices
from ml_lifecycle.serving.observability.monitor import Monitor


def _get(api: ServingApi, path: str) -> int:
    response = api.handle("GET", path, {}, b"")
    if response.after is not None:
        response.after()
    return response.status


def _page(api: ServingApi) -> str:
    return api.handle("GET", "/monitoring/prometheus/metrics", {}, b"").body.decode()


def test_ten_thousand_unknown_labels_and_versions_add_no_series(served):
    api = ServingApi({"taxi": served}, ServingServices(monitor=Monitor(MonitoringConfig(), None)))
    for index in range(100):
        assert _get(api, f"/v1/models/taxi/labels/probe-{index}/metadata") == 404
        assert _get(api, f"/v1/models/taxi/versions/{1000 + index}/metadata") == 404
    page = _page(api)
    series = [line for line in page.splitlines() if not line.startswith("#")]
    tracemalloc.start()
    baseline, _ = tracemalloc.get_traced_memory()
    for index in range(100, 10_000):
        _get(api, f"/v1/models/taxi/labels/probe-{index}/metadata")
        _get(api, f"/v1/models/taxi/versions/{1000 + index}/metadata")
    grown, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    after = _page(api)
    assert "probe-" not in after
    assert len([line for line in after.splitlines() if not line.startswith("#")]) <= len(series)
    # 19,800 more requests kept under 1 MB (a series per string would be tens of MB).
    assert grown - baseline < 1_000_000
    counted = sum(
        float(line.rsplit(" ", 1)[1])
        for line in after.splitlines()
        if line.startswith("lifecycle_serving_requests_total{")
    )
    assert counted == 20_000  # every request still counted, under a bounded set of labels

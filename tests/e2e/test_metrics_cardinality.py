"""/metrics stays bounded whatever paths and names clients send: a real gateway, requests with hundreds of
model names it never heard of and paths no route has, and the series its scrape lists before and after.

BentoML labelled its traffic metrics with the raw path, so every new path added series (a histogram's 19
each) that every later scrape read: after ``make fuzz`` /metrics took over 30 s. Labels are route templates
now (service/rest/traffic_metrics.py), and canaryline's own metrics only ever name served models.
"""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from registry_client.registry.registry import Registry
from registry_client.store import open_store
from tests.support.servers import GatewayProcess
from tests.support.tokens import ADMIN_TOKEN, READ_TOKEN, bearer

pytestmark = pytest.mark.e2e
ROW = [5.1, 3.5, 1.4, 0.2]


def unknown_traffic(gateway: GatewayProcess, names: list[str]) -> None:
    """For each name: inference on each protocol, reads and an admin call naming it, and paths no route has."""
    with httpx.Client(base_url=gateway.url, timeout=30) as http:
        for name in names:
            answers = [
                http.post("/predict", json={"model": name, "inputs": [ROW]}),
                http.post(f"/v2/models/{name}/infer", json={"inputs": []}),
                http.post(f"/v1/models/{name}:predict", json={"instances": [ROW]}),
                http.get(f"/models/{name}", headers=bearer(READ_TOKEN)),
                http.get(f"/registry/models/{name}/versions/{name}", headers=bearer(READ_TOKEN)),
                http.get(f"/admin/models/{name}/plan", headers=bearer(ADMIN_TOKEN)),
                http.get(f"/{name}/not/a/route"),
                http.put(f"/ui/{name}.js"),
            ]
            assert all(400 <= a.status_code < 500 for a in answers), [(a.url, a.status_code) for a in answers]


def series(gateway: GatewayProcess) -> tuple[set[tuple[str, tuple[tuple[str, str], ...]]], str]:
    """Every sample the scrape lists (name and labels), and the scrape's text."""
    text = httpx.get(gateway.url + "/metrics", timeout=60).text
    found = {
        (sample.name, tuple(sorted(sample.labels.items())))
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    return found, text


def test_metrics_series_do_not_grow_with_the_names_and_paths_clients_send(
    gateway_factory, sqlite_url: str, model_name: str, iris_models
) -> None:
    """After a first round of unknown names the scrape lists a set of series that 200 more names and paths
    leave exactly as it was, and no name a client sent is a label value."""
    registry = Registry(open_store(sqlite_url))
    try:
        registry.register(model_name, iris_models["logreg"])
    finally:
        registry.store.close()
    gateway = gateway_factory(sqlite_url)
    unknown_traffic(gateway, [f"ghost-a{i:03d}" for i in range(20)])
    before, _ = series(gateway)
    unknown_traffic(gateway, [f"ghost-b{i:03d}" for i in range(200)])
    after, text = series(gateway)
    assert "ghost" not in text, [line for line in text.splitlines() if "ghost" in line][:5]
    assert after == before, f"{len(after - before)} new series, e.g. {sorted(after - before)[:3]}"
    counted = {dict(labels).get("endpoint") for name, labels in after if name == "bentoml_service_request_total"}
    assert {"/v2/models/{name}/infer", "/models/{name}", "/ui/{path:path}", "other"} <= counted, counted

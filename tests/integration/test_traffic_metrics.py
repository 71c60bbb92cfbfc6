"""BentoML's traffic metrics labelled with the route a request matched: the labels, and the service's app holding
the middleware that applies them (tests/e2e/test_metrics_cardinality.py counts under them on a real gateway)."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.rest.traffic_metrics import OTHER, endpoint_label
from tests.support.bentoml_app import built_middleware


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("/predict", "/predict"),
        ("/v2/models/iris/infer", "/v2/models/{name}/infer"),
        ("/v2/models/a b/versions/v1/infer", "/v2/models/{name}/versions/{version}/infer"),
        ("/v2/nothing/here", "/v2/{path:path}"),
        ("/v1/models/iris:predict", "/v1/models/{name}:predict"),
        ("/v1/models/iris", "/v1/models/{name}"),
        ("/models/x7Q", "/models/{name}"),
        ("/registry/models/m/versions/v3", "/registry/models/{model}/versions/{version}"),
        ("/admin/models/m/rollout/pause", "/admin/models/{model}/rollout/pause"),
        ("/ui/assets/app.js", "/ui/{path:path}"),
        ("/metrics", "/metrics"),
        ("/readyz", "/readyz"),
        ("/", "/"),
        ("/no/such/route", OTHER),
        ("/predict/extra", OTHER),
    ],
)
def test_a_path_is_labelled_with_the_route_it_matches(path: str, label: str) -> None:
    """The label is the template of the gateway route (or BentoML's own path) the path matches, else 'other'."""
    assert endpoint_label(path) == label


def test_the_service_app_bentoml_builds_holds_the_bounded_traffic_metrics(tmp_path: Path) -> None:
    """BentoML's app factory, building the canaryline service's app, puts BoundedTrafficMetricsMiddleware where its
    RunnerTrafficMetricsMiddleware was (fails if a BentoML upgrade moves the class the factory imports)."""
    names = built_middleware(tmp_path)
    assert "BoundedTrafficMetricsMiddleware" in names and "RunnerTrafficMetricsMiddleware" not in names, names

"""Defects the schemathesis run (tests/e2e/test_openapi_fuzz.py) found, each pinned in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.gateways import gateway


@pytest.fixture
def served(tmp_path: Path, iris_models, model_name: str):
    with gateway(f"sqlite:///{tmp_path / 'store.db'}", tmp_path, {model_name: [iris_models["logreg"]]}) as built:
        yield built, model_name


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("TRACE", "/v2/", {"GET", "HEAD"}),
        ("TRACE", "/v2/health/live", {"GET", "HEAD"}),
        ("DELETE", "/v2/models/{m}/infer", {"POST"}),
        ("PUT", "/v2/models/{m}", {"GET", "HEAD"}),
        ("TRACE", "/v1/models", {"GET", "HEAD"}),
        ("PUT", "/v1/models/{m}:predict", {"POST", "GET", "HEAD"}),  # also /v1/models/{name}, name "m:predict"
    ],
)
def test_a_protocol_405_names_the_allowed_methods(served, method: str, path: str, allowed: set[str]) -> None:
    """A wrong method under /v2 or /v1 is a 405 with Allow (RFC 9110), in the protocol's body (it had no Allow)."""
    built, model = served
    response = built.client.request(method, path.format(m=model))
    assert response.status_code == 405
    assert set(response.headers["allow"].split(", ")) == allowed
    assert response.json() == {"error": f"method {method} is not allowed on {path.format(m=model)}"}


def test_an_unknown_protocol_path_is_still_a_404(served) -> None:
    """The catch-all's 404 is unchanged: no other route has the path."""
    built, _ = served
    response = built.client.request("TRACE", "/v2/no/such/path")
    assert response.status_code == 404
    assert "allow" not in response.headers

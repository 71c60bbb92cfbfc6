"""Defects the schemathesis run (tests/e2e/test_openapi_fuzz.py) found, each pinned in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry_client.errors import ModelNotFoundError
from tests.support.gateways import gateway
from tests.support.tokens import ADMIN_TOKEN, bearer

ROW = [5.1, 3.5, 1.4, 0.2]


@pytest.fixture
def served(tmp_path: Path, iris_models, model_name: str):
    """A gateway serving ``model_name`` v1 (logistic regression)."""
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


@pytest.mark.parametrize("path", ["/predict", "/v1/models/{m}:predict"])
def test_an_empty_version_pin_is_refused_not_dropped(served, path: str) -> None:
    """``X-Model-Version:`` with no value is a 400 naming the header; it was served as if nothing was pinned."""
    built, model = served
    body = {"inputs": [ROW]} if path == "/predict" else {"instances": [ROW]}
    response = built.client.post(path.format(m=model), json=body, headers={"X-Model-Version": ""})
    assert response.status_code == 400, response.text
    assert "X-Model-Version" in response.text
    assert built.runtime.store.count_predictions() == 0


@pytest.fixture
def two_versions(tmp_path: Path, iris_models, model_name: str):
    """A gateway whose model has v1 (stable) and v2, both registered."""
    with gateway(
        f"sqlite:///{tmp_path / 'store.db'}", tmp_path, {model_name: [iris_models["logreg"], iris_models["tree"]]}
    ) as built:
        yield built, model_name


def test_a_version_prefix_names_no_version(two_versions) -> None:
    """Shadowing version "v" of a model with v1 and v2 is a 404: BentoML's look-up took it as a prefix of
    both and raised (a 500), and would have taken "v" as v1 had v1 been the only version."""
    built, model = two_versions
    response = built.client.post(
        f"/admin/models/{model}/shadow", json={"version": "v", "reason": "r"}, headers=bearer(ADMIN_TOKEN)
    )
    assert response.status_code == 404, response.text
    assert built.runtime.registry.versions(model)[0].version == "v1"


def test_a_prefix_of_the_only_version_is_not_that_version(sqlite_registry, iris_models, model_name: str) -> None:
    """With v10 alone registered, "v1" is no version (BentoML's own look-up answers v10 for it)."""
    sqlite_registry.register(model_name, iris_models["logreg"], version="v10")
    with pytest.raises(ModelNotFoundError):
        sqlite_registry.get(model_name, "v1")


@pytest.mark.parametrize("verb", ["predict", "explain"])
def test_a_get_on_a_kserve_verb_is_a_405_not_an_unknown_model(served, verb: str) -> None:
    """GET /v1/models/m:predict is the verb's path with the wrong method: 405 with Allow: POST (it was a 404 for a
    model named "m:predict")."""
    built, model = served
    response = built.client.get(f"/v1/models/{model}:{verb}")
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == "POST"
    assert response.json() == {"error": f"method GET is not allowed on /v1/models/{model}:{verb}"}


@pytest.mark.parametrize("bucket", ["0", "²", "99999999999"])
def test_a_timeline_bucket_outside_its_rule_is_a_422(served, bucket: str) -> None:
    """A bucket of 0 s, a non-ASCII digit or more than a year is a 422 naming the parameter, not a 500."""
    built, model = served
    response = built.client.get(f"/models/{model}/timeline", params={"bucket": bucket}, headers=bearer(ADMIN_TOKEN))
    assert response.status_code == 422, response.text
    assert "bucket" in response.json()["error"]["message"]

"""The registry's HTTP API (``/registry``): models, a model's versions and one version's record (read token)."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry_client.registry.registry import Registry
from registry_client.store import open_store
from tests.support.gateways import gateway
from tests.support.tokens import ADMIN_TOKEN, FEEDBACK_TOKEN, READ_TOKEN, bearer

READ = bearer(READ_TOKEN)


@pytest.fixture
def served(tmp_path: Path, iris_models, model_name: str):
    """A gateway over a store where ``model_name`` has v1 (logistic regression) and v2 (tree)."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with gateway(url, tmp_path, {model_name: [iris_models["logreg"], iris_models["tree"]]}) as built:
        yield built, url


def test_models_names_every_registered_model(served, model_name: str) -> None:
    """GET /registry/models lists the model registered in the store."""
    built, _ = served
    response = built.client.get("/registry/models", headers=READ)
    assert response.status_code == 200, response.text
    assert model_name in response.json()["models"]


def test_versions_are_listed_in_order_with_their_records(served, model_name: str) -> None:
    """A model's versions come in numeric order, each with its task, framework and SHA-256."""
    built, _ = served
    body = built.client.get(f"/registry/models/{model_name}/versions", headers=READ).json()
    assert body["model"] == model_name
    assert [v["version"] for v in body["versions"]] == ["v1", "v2"]
    assert {v["task"] for v in body["versions"]} == {"classification"}
    assert all(len(v["sha256"]) == 64 for v in body["versions"])


def test_one_version_is_the_registrys_record(served, model_name: str) -> None:
    """GET …/versions/v2 answers exactly what the registry holds for v2."""
    built, url = served
    response = built.client.get(f"/registry/models/{model_name}/versions/v2", headers=READ)
    registry = Registry(open_store(url))
    try:
        assert response.json() == registry.get(model_name, "v2").to_dict()
    finally:
        registry.store.close()


@pytest.mark.parametrize("path", ["/registry/models/nosuchmodel/versions", "/registry/models/{m}/versions/v9"])
def test_an_unknown_model_or_version_is_a_404_in_the_error_body(served, model_name: str, path: str) -> None:
    """No such model, or no such version of a known one: 404 with the gateway's one error body naming it."""
    built, _ = served
    response = built.client.get(path.format(m=model_name), headers=READ)
    assert response.status_code == 404
    error = response.json()["error"]
    assert set(error) == {"code", "message", "request_id"}
    assert "v9" in error["message"] or "nosuchmodel" in error["message"]


@pytest.mark.parametrize(("headers", "status"), [({}, 401), (bearer(FEEDBACK_TOKEN), 401), (bearer(ADMIN_TOKEN), 200)])
def test_reads_need_the_read_or_admin_token(served, headers: dict[str, str], status: int) -> None:
    """No token or the feedback token is a 401 naming the realm; the admin token reads too."""
    built, _ = served
    response = built.client.get("/registry/models", headers=headers)
    assert response.status_code == status, response.text
    if status == 401:
        assert response.headers["www-authenticate"] == 'Bearer realm="canaryline-read"'


@pytest.mark.parametrize("path", ["null%2Cnull/versions", "a%20b/versions", "UPPER/versions", "{m}/versions/V%2C1"])
def test_a_name_that_breaks_the_rule_is_a_404_not_a_500(served, model_name: str, path: str) -> None:
    """Names no version can have are a 404 naming the rule (schemathesis found "null,null" crashing BentoML's
    tag parser into a 500; "UPPER" was folded to another model's name)."""
    built, _ = served
    response = built.client.get(f"/registry/models/{path.format(m=model_name)}", headers=READ)
    assert response.status_code == 404, response.text
    assert "names match" in response.json()["error"]["message"]

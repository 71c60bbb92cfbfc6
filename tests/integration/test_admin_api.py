"""The admin API over a real runtime: bearer auth, validation, conflicts, and applying plans at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from registry_client.registry import Registry
from registry_client.store import open_store
from service.composition import build_runtime
from service.errors import StartupError
from service.http import build_app
from service.settings import GatewaySettings

TOKEN = "correct-horse-battery-staple"


@pytest.fixture
def admin(tmp_path: Path, model_name: str, iris_models):
    """A runtime with three versions of one model and the admin API behind TOKEN."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    registry = Registry(open_store(url))
    for key in ("logreg", "logreg_c01", "tree"):
        registry.register(model_name, iris_models[key])
    runtime = build_runtime(GatewaySettings(store=url, home=tmp_path, admin_token=TOKEN))
    with TestClient(build_app(runtime)) as client:
        yield client, runtime, model_name
    runtime.close()


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}, {"Authorization": TOKEN}],
)
def test_mutations_without_the_token_are_401(admin, headers: dict[str, str]) -> None:
    """Missing, wrong or non-bearer credentials get 401 with WWW-Authenticate and change nothing."""
    client, runtime, model = admin
    response = client.post(f"/admin/models/{model}/promote", json={"version": "v2", "reason": "r"}, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == "unauthorized"
    assert runtime.store.get_plan(model).revision == 1


def test_reads_need_no_token(admin) -> None:
    """The plan and history are readable without credentials."""
    client, _, model = admin
    assert client.get(f"/admin/models/{model}/plan").json()["plan"]["stable"] == "v1"
    assert [e["action"] for e in client.get(f"/admin/models/{model}/history").json()["history"]] == ["create"]


def test_a_mutation_is_applied_before_the_answer(admin) -> None:
    """After a 200 the same gateway already routes by the new revision; the actor is recorded."""
    client, _, model = admin
    response = client.post(
        f"/admin/models/{model}/canary",
        json={"version": "v2", "weight": 100, "reason": "all in"},
        headers={**auth(), "X-Canaryline-Actor": "alice@example.com"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["applied_revision"], body["plan"]["actor"], body["audit"]["action"]) == (
        2,
        "alice@example.com",
        "canary",
    )
    served = client.post("/predict", json={"inputs": [[5.1, 3.5, 1.4, 0.2]], "routing_key": "k"}).json()
    assert (served["model_version"], served["route"], served["revision"]) == ("v2", "canary", 2)


@pytest.mark.parametrize(
    ("path", "body", "status", "code", "message"),
    [
        ("promote", {"version": "v2"}, 422, "invalid_input", "field reason: Field required"),
        ("promote", {"version": "v2", "reason": "r", "extra": 1}, 422, "invalid_input", "field extra"),
        ("promote", {"version": "v9", "reason": "r"}, 404, "not_found", "has no version 'v9'"),
        ("canary", {"version": "v2", "weight": 250, "reason": "r"}, 422, "invalid_plan", "less than or equal to 100"),
        ("canary", {"version": "v2", "weight": "lots", "reason": "r"}, 422, "invalid_input", "field weight"),
        (
            "promote",
            {"version": "v2", "reason": "r", "expected_revision": 7},
            409,
            "revision_conflict",
            "expected revision 7",
        ),
        ("rollback", {"reason": "r"}, 422, "invalid_plan", "no earlier stable version"),
    ],
)
def test_bad_mutations_get_the_error_shape(admin, path: str, body: dict, status: int, code: str, message: str) -> None:
    """Validation errors name the field; unknown versions are 404; stale revisions are 409."""
    client, runtime, model = admin
    response = client.post(f"/admin/models/{model}/{path}", json=body, headers=auth())
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["code"], message in error["message"]) == (code, True), error
    assert runtime.store.get_plan(model).revision == 1


NOT_VERSION_NAMES = ["latest", "V1", "../v1", "iris:v1", "\u0087", "v1\n"]


@pytest.mark.parametrize("name", NOT_VERSION_NAMES)
@pytest.mark.parametrize(
    ("path", "field", "extra"),
    [
        ("promote", "version", {}),
        ("canary", "version", {"weight": 10}),
        ("shadow", "version", {"sample": 10}),
        ("rollback", "to", {}),
    ],
)
def test_only_exact_registered_version_names_enter_a_plan(admin, name: str, path: str, field: str, extra: dict) -> None:
    """Aliases ('latest'), case variants and names breaking the version rule are a 422 naming the rule."""
    client, runtime, model = admin
    response = client.post(f"/admin/models/{model}/{path}", json={field: name, "reason": "r", **extra}, headers=auth())
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message", "request_id"}
    assert error["code"] == "invalid_version" and "must match ^[a-z0-9]" in error["message"], error
    assert runtime.store.get_plan(model).revision == 1


def test_a_stored_plan_with_an_invalid_version_name_is_not_applied(admin) -> None:
    """A plan in the store naming 'latest' is refused at load, named in /readyz detail; revision 1 keeps serving."""
    client, runtime, model = admin
    current = runtime.store.get_plan(model)
    aliased = current.evolve(actor="x", reason="alias", stable="latest")
    runtime.store.save_plan(aliased, before=current, action="promote")
    runtime.plans.refresh()
    error = runtime.gateway.readiness()["errors"][model]
    assert "revision 2 not applied" in error and "'latest'" in error and "must match" in error, error
    assert "still serving revision 1" in error
    served = client.post("/predict", json={"inputs": [[5.1, 3.5, 1.4, 0.2]]}).json()
    assert (served["model_version"], served["revision"]) == ("v1", 1)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("canary", b'{"version": "v2", "weight": true, "reason": "r"}', "weight"),
        ("canary", b'{"version": "v2", "weight": "10", "reason": "r"}', "weight"),
        ("canary", b'{"version": "v2", "weight": NaN, "reason": "r"}', "weight"),
        ("canary", b'{"version": "v2", "weight": 10, "sticky": "yes", "reason": "r"}', "sticky"),
        ("canary", b'{"version": "v2", "weight": 10, "sticky": 1, "reason": "r"}', "sticky"),
        ("shadow", b'{"version": "v2", "sample": "10", "reason": "r"}', "sample"),
        ("shadow", b'{"version": "v2", "sample": false, "reason": "r"}', "sample"),
        ("promote", b'{"version": "v2", "reason": "r", "expected_revision": "1"}', "expected_revision"),
        ("promote", b'{"version": "v2", "reason": "r", "expected_revision": true}', "expected_revision"),
        ("promote", b'{"version": "v2", "reason": "r", "expected_revision": 1.0}', "expected_revision"),
        ("promote", b'{"version": 2, "reason": "r"}', "version"),
        ("promote", b'{"version": "v2", "reason": 5}', "reason"),
        ("rollback", b'{"to": 1, "reason": "r"}', "to"),
    ],
)
def test_admin_fields_have_strict_types(admin, path: str, body: bytes, field: str) -> None:
    """A boolean or a string where a number belongs (or the reverse) is a 422 naming the field, never coerced."""
    client, runtime, model = admin
    response = client.post(
        f"/admin/models/{model}/{path}", content=body, headers={**auth(), "Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input" and error["message"].startswith(f"field {field}:"), error
    assert runtime.store.get_plan(model).revision == 1


def test_actor_header_is_validated(admin) -> None:
    """An actor that breaks its rule is refused rather than written to the audit log."""
    client, _, model = admin
    response = client.post(
        f"/admin/models/{model}/promote",
        json={"version": "v2", "reason": "r"},
        headers={**auth(), "X-Canaryline-Actor": "evil actor<script>"},
    )
    assert response.status_code == 400 and "X-Canaryline-Actor must match" in response.json()["error"]["message"]


def test_gateway_refuses_to_start_an_open_admin_api(tmp_path: Path) -> None:
    """No token and no dev flag: start-up is refused with a message saying what to set."""
    settings = GatewaySettings(store=f"sqlite:///{tmp_path / 's.db'}", home=tmp_path)
    with pytest.raises(StartupError, match="CANARYLINE_ADMIN_TOKEN is not set"):
        build_runtime(settings)


def test_dev_setups_may_run_without_a_token(tmp_path: Path) -> None:
    """CANARYLINE_INSECURE_ADMIN=1, or the admin API switched off, lets the gateway start without a token."""
    for settings in (
        GatewaySettings(store=f"sqlite:///{tmp_path / 's.db'}", home=tmp_path, insecure_admin=True),
        GatewaySettings(store=f"sqlite:///{tmp_path / 's.db'}", home=tmp_path, admin_api=False),
    ):
        runtime = build_runtime(settings)
        assert (runtime.admin is None) == (not settings.admin_api)
        runtime.close()

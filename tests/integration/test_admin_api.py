"""The admin API over a real runtime: bearer auth, validation, conflicts, and applying plans at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from starlette.testclient import TestClient

from registry_client.settings import GatewaySettings
from service.composition import build_runtime
from service.rest.app import build_app
from tests.support.gateways import gateway
from tests.support.tokens import FEEDBACK_TOKEN, READ_TOKEN, TOKEN_SETTINGS, bearer

TOKEN = "correct-horse-battery-staple"


@pytest.fixture
def admin(tmp_path: Path, model_name: str, iris_models):
    """A runtime with three versions of one model and the admin API behind TOKEN."""
    models = {model_name: [iris_models[key] for key in ("logreg", "logreg_c01", "tree")]}
    with gateway(f"sqlite:///{tmp_path / 'store.db'}", tmp_path, models, admin_token=TOKEN) as built:
        yield built.client, built.runtime, model_name


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


WRONG_CREDENTIALS = [
    {},
    {"Authorization": "Bearer wrong"},
    {"Authorization": f"Basic {TOKEN}"},
    {"Authorization": TOKEN},
    {"Authorization": f"Bearer  {TOKEN}"},
    {"Authorization": f"Bearer {TOKEN} "},
    {"Authorization": f"Bearer {TOKEN}\t"},
    {"Authorization": f"Bearer {TOKEN[:-1]}"},
]


def assert_unauthorized(response, realm: str) -> None:
    """A 401 in the one error shape, with a Bearer challenge naming the realm."""
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == f'Bearer realm="{realm}"'
    body = response.json()
    assert set(body["error"]) == {"code", "message", "request_id"} and body["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("headers", [*WRONG_CREDENTIALS, bearer(READ_TOKEN), bearer(FEEDBACK_TOKEN)])
def test_mutations_without_the_token_are_401(admin, headers: dict[str, str]) -> None:
    """Missing, wrong, padded or non-bearer credentials (or another role's token) get 401 and change nothing."""
    client, runtime, model = admin
    response = client.post(f"/admin/models/{model}/promote", json={"version": "v2", "reason": "r"}, headers=headers)
    assert_unauthorized(response, "canaryline-admin")
    assert runtime.store.get_plan(model).revision == 1


READS = ["/admin/models/{m}/plan", "/admin/models/{m}/history", "/models", "/models/{m}"]


@pytest.mark.parametrize("path", READS)
@pytest.mark.parametrize("headers", [*WRONG_CREDENTIALS, bearer(FEEDBACK_TOKEN)])
def test_reads_of_plans_and_models_need_the_read_token(admin, path: str, headers: dict[str, str]) -> None:
    """Plans, history and /models name actors and reasons: without the read (or admin) token they are a 401."""
    client, _, model = admin
    assert_unauthorized(client.get(path.format(m=model), headers=headers), "canaryline-read")


@pytest.mark.parametrize("path", READS)
@pytest.mark.parametrize("token", [READ_TOKEN, TOKEN])
def test_the_read_or_the_admin_token_reads(admin, path: str, token: str) -> None:
    """The read token, or the admin token, reads the plan, history and /models."""
    client, _, model = admin
    response = client.get(path.format(m=model), headers=bearer(token))
    assert response.status_code == 200, response.text


def test_reads_show_the_plan_and_history(admin) -> None:
    """The plan and history read back what the store holds."""
    client, _, model = admin
    assert client.get(f"/admin/models/{model}/plan", headers=auth()).json()["plan"]["stable"] == "v1"
    history = client.get(f"/admin/models/{model}/history", headers=bearer(READ_TOKEN)).json()["history"]
    assert [e["action"] for e in history] == ["create"]


def test_predictions_health_and_protocol_metadata_stay_public(admin) -> None:
    """With every token set, predicting on each protocol and reading model metadata need no token."""
    client, _, model = admin
    row = [5.1, 3.5, 1.4, 0.2]
    tensor = {"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": [row]}
    assert client.post("/predict", json={"inputs": [row]}).status_code == 200
    assert client.post(f"/v2/models/{model}/infer", json={"inputs": [tensor]}).status_code == 200
    assert client.post(f"/v1/models/{model}:predict", json={"instances": [row]}).status_code == 200
    for path in ("/v2", "/v2/health/live", "/v2/health/ready", f"/v2/models/{model}", f"/v2/models/{model}/ready"):
        assert client.get(path).status_code == 200, path
    for path in ("/v1/models", f"/v1/models/{model}"):
        assert client.get(path).status_code == 200, path


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


@pytest.mark.parametrize("missing", ["admin_token", "read_token", "feedback_token"])
def test_settings_refuse_a_missing_token(tmp_path: Path, missing: str) -> None:
    """Outside a dev setup each token is required: the settings refuse, naming the variable to set."""
    settings: dict[str, Any] = {key: value for key, value in TOKEN_SETTINGS.items() if key != missing}
    with pytest.raises(ValidationError, match=f"CANARYLINE_{missing.upper()} is not set"):
        GatewaySettings(store=f"sqlite:///{tmp_path / 's.db'}", home=tmp_path, **settings)


@pytest.mark.parametrize("dev", [False, True])
@pytest.mark.parametrize("token", ["short-token", "x" * 15, f" {'x' * 20}", f"{'x' * 20}\n", "x" * 10 + " " + "x" * 10])
def test_settings_refuse_short_or_padded_tokens_even_in_dev(tmp_path: Path, dev: bool, token: str) -> None:
    """A token under 16 characters, or holding whitespace, is refused (in dev too), without echoing it."""
    with pytest.raises(ValidationError, match="CANARYLINE_FEEDBACK_TOKEN must be at least 16") as info:
        GatewaySettings(home=tmp_path, dev=dev, **(TOKEN_SETTINGS | {"feedback_token": token}))
    assert token not in str(info.value)


def test_a_dev_setup_may_run_without_tokens(tmp_path: Path) -> None:
    """CANARYLINE_DEV=1: missing tokens leave what they guard open (the warnings: tests/e2e)."""
    settings = GatewaySettings(store=f"sqlite:///{tmp_path / 's.db'}", home=tmp_path, dev=True)
    assert settings.missing_tokens() == ["admin_token", "read_token", "feedback_token"]
    runtime = build_runtime(settings)
    try:
        with TestClient(build_app(runtime)) as client:
            assert client.get("/models").status_code == 200
            assert client.post("/feedback", json={"request_id": "nope", "outcome": 1}).status_code == 404
    finally:
        runtime.close()


def test_without_the_admin_api_no_admin_token_is_needed(tmp_path: Path) -> None:
    """CANARYLINE_ADMIN_API=0 mounts no admin routes and needs no admin token; the other two are still required."""
    settings: dict[str, Any] = {key: value for key, value in TOKEN_SETTINGS.items() if key != "admin_token"}
    runtime = build_runtime(
        GatewaySettings(store=f"sqlite:///{tmp_path / 's.db'}", home=tmp_path, admin_api=False, **settings)
    )
    assert runtime.control is None
    runtime.close()
    with pytest.raises(ValidationError, match="CANARYLINE_READ_TOKEN is not set"):
        GatewaySettings(home=tmp_path, admin_api=False, feedback_token=FEEDBACK_TOKEN)

"""Registering a model file and archiving a version over HTTP: admin token, refusals that write nothing, the audit."""

from __future__ import annotations

import gzip
from pathlib import Path

import joblib
import pytest
import xgboost as xgb

from registry_client.registry.local_models import bento_versions
from tests.support.gateways import gateway
from tests.support.tokens import ADMIN_TOKEN, READ_TOKEN, bearer

ADMIN = {**bearer(ADMIN_TOKEN), "X-Canaryline-Actor": "ci@runner"}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, iris, iris_models) -> dict[str, bytes]:
    """An iris XGBoost booster as JSON, a joblib pickle of a logistic regression, and a text file."""
    X, y = iris
    folder = tmp_path_factory.mktemp("upload")
    xgb.XGBClassifier(n_estimators=5, max_depth=2).fit(X, y).get_booster().save_model(folder / "model.json")
    joblib.dump(iris_models["logreg"], folder / "model.pkl")
    return {
        "xgboost": (folder / "model.json").read_bytes(),
        "pickle": (folder / "model.pkl").read_bytes(),
        "text": b"not a model\n",
        # A PNG: XGBoost's error quotes bytes that are not UTF-8, and decoding its message raised (a 500).
        "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x00\x00\x00\x00:~\x9bU",
    }


@pytest.fixture
def served(tmp_path: Path, iris_models, model_name: str):
    """A gateway whose store has ``model_name`` v1 (logistic regression) stable; files up to 64 KiB."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with gateway(url, tmp_path, {model_name: [iris_models["logreg"]]}, max_model_file_bytes=64 * 1024) as built:
        yield built


def register(served, model: str, body: bytes, headers=None, **query: str):
    return served.client.post(
        f"/registry/models/{model}/versions",
        content=body,
        params={"framework": "xgboost", **query},
        headers={**ADMIN, "Content-Type": "application/octet-stream", **(headers or {})},
    )


def assert_nothing_written(served, model: str) -> None:
    store = served.runtime.store
    assert [v.version for v in store.list_versions(model)] == ["v1"]
    assert [e.action for e in store.version_events(model)] == ["register"]
    assert bento_versions(model) == ["v1"]


def test_a_model_file_registers_with_its_metadata_and_actor(served, files, model_name: str) -> None:
    """201 with the record (framework, data version, params, metrics, who), Location, and a register event."""
    response = register(
        served, model_name, files["xgboost"], version="v2", data_version="batch-7", params='{"depth": 2}',
        metrics='{"accuracy": 0.97}', description="nightly",
    )  # fmt: skip
    assert response.status_code == 201, response.text
    record = response.json()
    assert (record["version"], record["framework"], record["data_version"]) == ("v2", "bentoml.xgboost", "batch-7")
    assert (record["params"], record["metrics"], record["created_by"]) == (
        {"depth": 2},
        {"accuracy": 0.97},
        "ci@runner",
    )
    assert response.headers["location"] == f"/registry/models/{model_name}/versions/v2"
    read = served.client.get(response.headers["location"], headers=bearer(READ_TOKEN))
    assert read.json() == record
    events = served.runtime.store.version_events(model_name)
    assert [(e.version, e.action, e.actor) for e in events][-1] == ("v2", "register", "ci@runner")


def test_a_new_models_first_version_is_served_at_once(served, files, model_name: str) -> None:
    """The first version of a new model gets its plan, and this gateway serves it when the POST answers."""
    response = register(served, model_name + "n", files["xgboost"])
    assert response.status_code == 201, response.text
    described = served.client.get(f"/models/{model_name}n", headers=bearer(READ_TOKEN))
    assert described.status_code == 200 and described.json()["plan"]["stable"] == "v1"


@pytest.mark.parametrize(
    ("file", "query", "status", "code"),
    [
        ("text", {}, 422, "invalid_model_file"),  # not an XGBoost model
        ("pickle", {"framework": "sklearn"}, 422, "invalid_model_file"),  # a pickle without the trust flag
        ("xgboost", {"version": "v1"}, 409, "version_exists"),
        ("xgboost", {"version": "Bad Name"}, 422, "invalid_version"),
        ("xgboost", {"framework": "torch"}, 422, "invalid_input"),
        ("xgboost", {"frameowrk": "xgboost"}, 422, "invalid_input"),  # a misspelt parameter is not dropped
        ("xgboost", {"params": "[1, 2]"}, 422, "invalid_input"),
        ("xgboost", {"trust_pickle": "yes"}, 422, "invalid_input"),
        ("text", {"data_version": "x"}, 422, "invalid_model_file"),
        ("png", {}, 422, "invalid_model_file"),  # schemathesis found this one a 500
        ("png", {"framework": "lightgbm"}, 422, "invalid_model_file"),
        ("png", {"framework": "onnx"}, 422, "invalid_model_file"),
    ],
)
def test_refusals_write_nothing(served, files, model_name: str, file: str, query, status: int, code: str) -> None:
    """Each refusal is a 4xx in the one error body naming the rule; no record, event or saved model is left."""
    response = register(served, model_name, files[file], **query)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code, response.text
    assert_nothing_written(served, model_name)


def test_a_bad_model_name_is_refused(served, files) -> None:
    """A model name that breaks the naming rule is a 422 naming the rule."""
    response = register(served, "Bad_Name", files["xgboost"])
    assert response.status_code == 422 and "must match" in response.json()["error"]["message"]


def test_a_trusted_pickle_registers(served, files, model_name: str) -> None:
    """trust_pickle=true is the explicit flag that lets a scikit-learn pickle load."""
    response = register(served, model_name, files["pickle"], framework="sklearn", trust_pickle="true")
    assert response.status_code == 201, response.text
    assert response.json()["framework"] == "bentoml.sklearn"


def test_size_encoding_and_empty_bodies_are_refused(served, files, model_name: str) -> None:
    """Over CANARYLINE_MAX_MODEL_FILE_BYTES is a 413, a Content-Encoding a 415, an empty body a 422."""
    too_big = register(served, model_name, files["xgboost"] + b" " * (64 * 1024))
    assert too_big.status_code == 413 and "CANARYLINE_MAX_MODEL_FILE_BYTES" in too_big.text
    gzipped = register(served, model_name, gzip.compress(files["xgboost"]), headers={"Content-Encoding": "gzip"})
    assert gzipped.status_code == 415
    assert register(served, model_name, b"").status_code == 422
    assert_nothing_written(served, model_name)


@pytest.mark.parametrize("token", [None, READ_TOKEN])
def test_registration_needs_the_admin_token(served, files, model_name: str, token: str | None) -> None:
    """Without a token, or with the read token, a registration is a 401 and writes nothing."""
    headers = {"Authorization": f"Bearer {token}"} if token else {"Authorization": ""}
    response = register(served, model_name, files["xgboost"], headers=headers)
    assert response.status_code == 401
    assert_nothing_written(served, model_name)


def test_archive_refuses_a_served_version_and_archives_an_unused_one(served, files, model_name: str) -> None:
    """v1 (stable) is a 409 naming its role; v2, unused, is archived, hidden from the list, audited."""
    base = f"/registry/models/{model_name}/versions"
    in_use = served.client.post(f"{base}/v1/archive", json={"reason": "old"}, headers=ADMIN)
    assert in_use.status_code == 409 and in_use.json()["error"]["code"] == "version_in_use"
    assert register(served, model_name, files["xgboost"]).status_code == 201
    archived = served.client.post(f"{base}/v2/archive", json={"reason": "superseded"}, headers=ADMIN)
    assert archived.status_code == 200, archived.text
    assert (archived.json()["archived"], archived.json()["archived_by"]) == (True, "ci@runner")
    listed = served.client.get(base, headers=bearer(READ_TOKEN)).json()["versions"]
    everything = served.client.get(base, params={"include_archived": "true"}, headers=bearer(READ_TOKEN)).json()
    assert [v["version"] for v in listed] == ["v1"]
    assert [v["version"] for v in everything["versions"]] == ["v1", "v2"]
    last = served.runtime.store.version_events(model_name)[-1]
    assert (last.version, last.action, last.actor, last.reason) == ("v2", "archive", "ci@runner", "superseded")


@pytest.mark.parametrize(
    ("path", "body", "headers", "status"),
    [
        ("v9/archive", {"reason": "r"}, ADMIN, 404),
        ("v1/archive", {}, ADMIN, 422),  # the reason is required
        ("v1/archive", {"reason": "r", "prune": "yes"}, ADMIN, 422),
        ("v1/archive", {"reason": "r"}, bearer(READ_TOKEN), 401),
    ],
)
def test_archive_refusals(served, model_name: str, path: str, body, headers, status: int) -> None:
    """Unknown versions, bodies that break their rules and the wrong token are refused; v1 stays unarchived."""
    response = served.client.post(f"/registry/models/{model_name}/versions/{path}", json=body, headers=headers)
    assert response.status_code == status, response.text
    assert not served.runtime.store.get_version(model_name, "v1").archived

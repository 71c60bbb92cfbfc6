"""POST /feedback through the ASGI app over a real runtime, on both stores: joining, replacing, refusing."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from registry_client.analysis.joined import joined_rows
from registry_client.domain.identifiers import new_id
from registry_client.store import Store
from service.composition import Runtime
from tests.support.assertions import assert_error
from tests.support.gateways import gateway
from tests.support.tokens import ADMIN_TOKEN, FEEDBACK_TOKEN, READ_TOKEN, bearer

ROW = [5.1, 3.5, 1.4, 0.2]
DIABETES_ROW = [0.01] * 10


@dataclasses.dataclass
class Served:
    client: TestClient
    runtime: Runtime
    classifier: str
    regressor: str

    def predict(self, model: str, rows: list[list[float]], request_id: str | bytes) -> dict:
        response = self.client.post(
            "/predict", json={"model": model, "inputs": rows}, headers={"X-Request-ID": request_id}
        )
        assert response.status_code == 200, response.text
        return response.json()

    def feedback(self, body: dict | bytes, headers: dict[str, str] | None = None):
        headers = bearer(FEEDBACK_TOKEN) if headers is None else headers
        if isinstance(body, bytes):
            return self.client.post("/feedback", content=body, headers=headers)
        return self.client.post("/feedback", json=body, headers=headers)


@pytest.fixture
def served(store: Store, tmp_path: Path, model_name: str, iris_models, diabetes_ridge) -> Iterator[Served]:
    """A runtime on each store backend serving a classifier (v1, plus v2 to shadow) and a regressor."""
    regressor = model_name + "r"
    models = {model_name: [iris_models["logreg"], iris_models["tree"]], regressor: [diabetes_ridge]}
    with gateway(store.url, tmp_path, models, regression={regressor}) as built:
        yield Served(built.client, built.runtime, model_name, regressor)


def test_feedback_is_accepted_and_names_model_and_version(served: Served) -> None:
    """202 names the request, model, versions and prediction it was joined to; the store holds it."""
    predicted = served.predict(served.classifier, [ROW], "order-1")
    response = served.feedback({"request_id": "order-1", "outcome": 0})
    assert response.status_code == 202, response.text
    body = response.json()
    assert (body["request_id"], body["model"], body["versions"], body["rows"], body["replaced"]) == (
        "order-1",
        served.classifier,
        ["v1"],
        1,
        False,
    )
    assert body["predictions"] == [
        {"prediction_id": predicted["prediction_id"], "model_version": "v1", "route": "stable", "shadow": False}
    ]
    assert response.headers["x-request-id"] not in ("", "order-1")
    [outcome] = served.runtime.store.get_outcomes(["order-1"]).values()
    # Stores keep timestamps to the microsecond (PostgreSQL's timestamptz resolution).
    assert outcome.outcome == [0] and outcome.observed_at == outcome.received_at
    assert outcome.observed_at == pytest.approx(body["observed_at"], abs=1e-6)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        bearer(ADMIN_TOKEN),
        bearer(READ_TOKEN),
        bearer("guessed-but-long-enough"),
        {"Authorization": f"Bearer  {FEEDBACK_TOKEN}"},
        {"Authorization": f"Bearer {FEEDBACK_TOKEN} "},
        {"Authorization": FEEDBACK_TOKEN},
    ],
)
def test_ground_truth_needs_the_feedback_token(served: Served, headers: dict[str, str]) -> None:
    """Without exactly the feedback token an outcome is a 401 that neither replaces the stored one nor leaks."""
    served.predict(served.classifier, [ROW], "guarded-1")
    assert served.feedback({"request_id": "guarded-1", "outcome": 0}).status_code == 202
    response = served.feedback({"request_id": "guarded-1", "outcome": 2}, headers=headers)
    assert_error(response, 401, "unauthorized", "CANARYLINE_FEEDBACK_TOKEN")
    assert response.headers["www-authenticate"] == 'Bearer realm="canaryline-feedback"'
    assert "prediction_id" not in response.text and "v1" not in response.text
    assert served.runtime.store.get_outcomes(["guarded-1"])["guarded-1"].outcome == [0]


def test_batch_outcomes_join_row_by_row(served: Served) -> None:
    """A list with one value per row of a batch request joins each row with its own value."""
    served.predict(served.classifier, [ROW, ROW, ROW], "batch-1")
    response = served.feedback({"request_id": "batch-1", "outcome": [0, 2, 1]})
    assert response.status_code == 202 and response.json()["rows"] == 3
    rows = list(joined_rows(served.runtime.store, served.classifier))
    assert [(r.row_index, r.outcome) for r in rows] == [(0, 0), (1, 2), (2, 1)]


def test_a_list_of_one_is_the_outcome_of_a_one_row_request(served: Served) -> None:
    """[value] and value mean the same for a one-row request; regressors take ints and floats."""
    served.predict(served.regressor, [DIABETES_ROW], "reg-1")
    assert served.feedback({"request_id": "reg-1", "outcome": [151.5]}).status_code == 202
    served.predict(served.regressor, [DIABETES_ROW], "reg-2")
    assert served.feedback({"request_id": "reg-2", "outcome": 75}).status_code == 202
    outcomes = served.runtime.store.get_outcomes(["reg-1", "reg-2"])
    assert (outcomes["reg-1"].outcome, outcomes["reg-2"].outcome) == ([151.5], [75])


def test_observed_at_takes_iso_8601_and_epoch_seconds(served: Served) -> None:
    """observed_at is stored as epoch seconds whether it came as ISO 8601 (UTC when naive) or a number."""
    served.predict(served.classifier, [ROW], "t-1")
    served.predict(served.classifier, [ROW], "t-2")
    served.feedback({"request_id": "t-1", "outcome": 1, "observed_at": "2024-01-02T03:04:05+00:00"})
    served.feedback({"request_id": "t-2", "outcome": 1, "observed_at": 1704164645.5})
    outcomes = served.runtime.store.get_outcomes(["t-1", "t-2"])
    assert (outcomes["t-1"].observed_at, outcomes["t-2"].observed_at) == (1704164645.0, 1704164645.5)


def test_posting_twice_replaces_and_counts_once(served: Served) -> None:
    """The second outcome for a request replaces the first (replaced: true) and joins its row once."""
    served.predict(served.classifier, [ROW], "again-1")
    assert served.feedback({"request_id": "again-1", "outcome": 1}).json()["replaced"] is False
    second = served.feedback({"request_id": "again-1", "outcome": 2})
    assert second.status_code == 202 and second.json()["replaced"] is True
    rows = list(joined_rows(served.runtime.store, served.classifier))
    assert [(r.request_id, r.outcome) for r in rows] == [("again-1", 2)]


def test_the_outcome_joins_the_shadow_record_too(served: Served) -> None:
    """A request with a shadow record (same request_id, shadow=True) gets the outcome on both records."""
    served.predict(served.classifier, [ROW, ROW], "mirrored-1")
    [primary] = served.runtime.store.predictions_for_request("mirrored-1")
    shadow = dataclasses.replace(
        primary, prediction_id="shadow-pid", model_version="v2", route="shadow", shadow=True, predictions=[0, 1]
    )
    served.runtime.store.append_predictions([shadow])
    response = served.feedback({"request_id": "mirrored-1", "outcome": [0, 0]})
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["versions"] == ["v1", "v2"]
    assert [(p["model_version"], p["route"], p["shadow"]) for p in body["predictions"]] == [
        ("v1", "stable", False),
        ("v2", "shadow", True),
    ]
    rows = list(joined_rows(served.runtime.store, served.classifier))
    assert sorted((r.shadow, r.row_index, r.outcome) for r in rows) == [
        (False, 0, 0),
        (False, 1, 0),
        (True, 0, 0),
        (True, 1, 0),
    ]


@pytest.mark.parametrize("request_id", ["order 77/line 2", "zählung-1", "x" * 200])
def test_any_request_id_of_the_rule_joins(served: Served, request_id: str) -> None:
    """An outcome joins a prediction whose request ID has spaces, slashes or non-ASCII letters, exactly."""
    served.predict(served.classifier, [ROW], request_id.encode())
    response = served.feedback({"request_id": request_id, "outcome": 2})
    assert response.status_code == 202, response.text
    assert response.json()["request_id"] == request_id
    assert served.runtime.store.get_outcomes([request_id])[request_id].outcome == [2]


def test_unknown_request_is_404(served: Served) -> None:
    """A request_id with no logged prediction is a 404 in the one error shape."""
    assert_error(
        served.feedback({"request_id": "never-served", "outcome": 1}),
        404,
        "unknown_request",
        "request 'never-served' has no logged prediction",
    )
    assert served.runtime.store.get_outcomes(["never-served"]) == {}


def test_a_request_of_another_model_is_404(served: Served) -> None:
    """With field 'model', a request served by a different model is not found."""
    served.predict(served.classifier, [ROW], "mine-1")
    assert_error(
        served.feedback({"request_id": "mine-1", "outcome": 1, "model": served.regressor}),
        404,
        "unknown_request",
        f"by model {served.regressor!r}",
    )


def test_a_request_id_reused_across_models_is_409_unless_the_model_is_named(served: Served) -> None:
    """An id that logged predictions of two models is a 409 listing both; naming the model joins only its one."""
    first = served.predict(served.classifier, [ROW], "dup-1")
    second = served.predict(served.regressor, [DIABETES_ROW], "dup-1")
    refused = served.feedback({"request_id": "dup-1", "outcome": 1})
    assert_error(refused, 409, "ambiguous_request", "request 'dup-1' has 2 primary predictions")
    for predicted in (first, second):
        assert predicted["prediction_id"] in refused.json()["error"]["message"]
    assert served.runtime.store.get_outcomes(["dup-1"]) == {}
    response = served.feedback({"request_id": "dup-1", "outcome": 1, "model": served.classifier})
    assert response.status_code == 202, response.text
    assert [p["prediction_id"] for p in response.json()["predictions"]] == [first["prediction_id"]]
    assert [r.outcome for r in joined_rows(served.runtime.store, served.classifier)] == [1]
    assert [r.outcome for r in joined_rows(served.runtime.store, served.regressor)] == [None]


def test_a_reused_request_id_is_409_listing_each_prediction(served: Served) -> None:
    """Two predictions under one X-Request-ID: 409 naming each prediction_id, version, route and time."""
    first = served.predict(served.classifier, [ROW], "reused-1")
    second = served.predict(served.classifier, [ROW], "reused-1")
    refused = served.feedback({"request_id": "reused-1", "outcome": 0})
    assert_error(refused, 409, "ambiguous_request", "name one with field 'prediction_id'")
    message = refused.json()["error"]["message"]
    for predicted in (first, second):
        assert f"{predicted['prediction_id']!r} (version 'v1', route 'stable', at 20" in message
    assert served.runtime.store.get_outcomes(["reused-1"]) == {}
    assert served.runtime.store.get_prediction_outcomes([first["prediction_id"], second["prediction_id"]]) == {}


def test_prediction_id_names_the_prediction_an_outcome_joins(served: Served) -> None:
    """With prediction_id the outcome joins that prediction and its shadow only; reposting replaces it, once."""
    first = served.predict(served.classifier, [ROW], "reused-2")
    second = served.predict(served.classifier, [ROW], "reused-2")
    store = served.runtime.store
    primaries = {r.prediction_id: r for r in store.predictions_for_request("reused-2")}
    store.append_predictions(
        [
            dataclasses.replace(
                primaries[predicted["prediction_id"]],
                prediction_id=f"shadow-of-{n}",
                primary_id=predicted["prediction_id"],
                model_version="v2",
                route="shadow",
                shadow=True,
            )
            for n, predicted in enumerate((first, second))
        ]
    )
    named = served.feedback({"request_id": "reused-2", "outcome": 2, "prediction_id": first["prediction_id"]})
    assert named.status_code == 202, named.text
    assert [(p["prediction_id"], p["shadow"]) for p in named.json()["predictions"]] == [
        (first["prediction_id"], False),
        ("shadow-of-0", True),
    ]
    assert named.json()["replaced"] is False

    def joined() -> dict[str, object]:
        return {r.prediction_id: r.outcome for r in joined_rows(store, served.classifier)}

    assert joined() == {first["prediction_id"]: 2, "shadow-of-0": 2, second["prediction_id"]: None, "shadow-of-1": None}
    body = {"request_id": "reused-2", "outcome": 1, "prediction_id": second["prediction_id"]}
    assert served.feedback(body).status_code == 202
    again = served.feedback({"request_id": "reused-2", "outcome": 0, "prediction_id": first["prediction_id"]})
    assert again.json()["replaced"] is True
    assert joined() == {first["prediction_id"]: 0, "shadow-of-0": 0, second["prediction_id"]: 1, "shadow-of-1": 1}


def test_naming_the_only_prediction_of_a_request_stores_the_request_outcome(served: Served) -> None:
    """With one primary prediction, prediction_id is checked but the outcome is the request's: shadows
    logged without primary_id (before it existed) are still joined."""
    predicted = served.predict(served.classifier, [ROW], "single-1")
    [primary] = served.runtime.store.predictions_for_request("single-1")
    legacy = dataclasses.replace(primary, prediction_id="old-shadow", route="shadow", shadow=True)
    served.runtime.store.append_predictions([legacy])
    body = {"request_id": "single-1", "outcome": 2, "prediction_id": predicted["prediction_id"]}
    response = served.feedback(body)
    assert response.status_code == 202, response.text
    assert [p["prediction_id"] for p in response.json()["predictions"]] == [predicted["prediction_id"], "old-shadow"]
    assert [r.outcome for r in joined_rows(served.runtime.store, served.classifier)] == [2, 2]
    assert served.runtime.store.get_prediction_outcomes([predicted["prediction_id"]]) == {}


def test_prediction_id_must_name_a_primary_prediction_of_the_request(served: Served) -> None:
    """A prediction_id of another request is a 404; a shadow's, or a malformed one, a 422 naming the field."""
    served.predict(served.classifier, [ROW], "mine-2")
    other = served.predict(served.classifier, [ROW], "other-2")
    [primary] = served.runtime.store.predictions_for_request("mine-2")
    shadow_pid = new_id()
    shadow = dataclasses.replace(
        primary, prediction_id=shadow_pid, primary_id=primary.prediction_id, route="shadow", shadow=True
    )
    served.runtime.store.append_predictions([shadow])
    body = {"request_id": "mine-2", "outcome": 1}
    assert_error(
        served.feedback({**body, "prediction_id": other["prediction_id"]}),
        404,
        "unknown_prediction",
        f"request 'mine-2' has no prediction {other['prediction_id']!r}",
    )
    assert_error(
        served.feedback({**body, "prediction_id": shadow_pid}),
        422,
        "invalid_input",
        "field 'prediction_id' names a shadow prediction",
    )
    assert_error(served.feedback({**body, "prediction_id": "a b"}), 422, "invalid_input", "field 'prediction_id' must")
    assert served.runtime.store.get_outcomes(["mine-2"]) == {}


@pytest.mark.parametrize(
    ("target", "outcome", "code", "message"),
    [
        ("regressor", "151.5", "invalid_input", "field 'outcome' must be a number for regressor"),
        ("regressor", True, "invalid_input", "must be a number for regressor"),
        ("classifier", 7, "invalid_input", "must be one of the classes of model"),
        ("classifier", 1.0, "invalid_input", "(0, 1, 2), not 1.0"),
        ("classifier", "1", "invalid_input", "(0, 1, 2), not '1'"),
        ("classifier", True, "invalid_input", "not true"),
        ("classifier", [1, 2], "wrong_length", "must be one value (or a list of one)"),
        ("classifier", [[1]], "invalid_input", "field 'outcome[0]' must be one of the classes"),
    ],
)
def test_outcomes_of_the_wrong_type_or_length_are_422(
    served: Served, target: str, outcome, code: str, message: str
) -> None:
    """A value that is not a label of the classifier, a number for the regressor, or one per row is a 422."""
    model = served.classifier if target == "classifier" else served.regressor
    served.predict(model, [ROW if target == "classifier" else DIABETES_ROW], "bad-1")
    assert_error(served.feedback({"request_id": "bad-1", "outcome": outcome}), 422, code, message)
    assert served.runtime.store.get_outcomes(["bad-1"]) == {}


@pytest.mark.parametrize("token", [b"NaN", b"Infinity", b"-Infinity"])
def test_non_finite_regression_outcomes_are_422(served: Served, token: bytes) -> None:
    """NaN and infinities are refused for a regressor, naming the field."""
    served.predict(served.regressor, [DIABETES_ROW], "nan-1")
    body = b'{"request_id": "nan-1", "outcome": ' + token + b"}"
    assert_error(served.feedback(body), 422, "invalid_input", "field 'outcome' must be a finite number for regressor")


def test_batch_outcomes_must_have_one_value_per_row(served: Served) -> None:
    """For a three-row request a single value, or a list of two, is a 422 naming the expected length."""
    served.predict(served.classifier, [ROW, ROW, ROW], "rows-3")
    assert_error(
        served.feedback({"request_id": "rows-3", "outcome": 1}), 422, "wrong_length", "a list of 3 values, one per"
    )
    assert_error(served.feedback({"request_id": "rows-3", "outcome": [1, 2]}), 422, "wrong_length", "not a list of 2")
    assert_error(
        served.feedback({"request_id": "rows-3", "outcome": [1, 2, "x"]}), 422, "invalid_input", "field 'outcome[2]'"
    )


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        (b"{", 400, "invalid_json", "body is not valid JSON"),
        (b"[1]", 422, "invalid_input", "body must be a JSON object"),
        (b'{"outcome": 1}', 422, "missing_field", "field 'request_id' is required"),
        (b'{"request_id": "known-1\\n", "outcome": 1}', 422, "invalid_input", "field 'request_id' must be 1-256"),
        (b'{"request_id": "x\\u0000", "outcome": 1}', 422, "invalid_input", "with no control characters"),
        (b'{"request_id": "known-1"}', 422, "missing_field", "field 'outcome' is required"),
        (b'{"request_id": "known-1", "outcome": null}', 422, "missing_field", "field 'outcome' is required"),
        (
            b'{"request_id": "known-1", "outcome": 1, "observed_at": "yesterday"}',
            422,
            "invalid_input",
            "field 'observed_at' must be ISO 8601 text or epoch seconds",
        ),
        (
            b'{"request_id": "known-1", "outcome": 1, "observed_at": true}',
            422,
            "invalid_input",
            "field 'observed_at' must be ISO 8601 text or epoch seconds",
        ),
    ],
)
def test_malformed_bodies_are_refused(served: Served, body: bytes, status: int, code: str, message: str) -> None:
    """Malformed JSON is a 400; a body breaking a field's rule is a 422 naming the field."""
    served.predict(served.classifier, [ROW], "known-1")
    assert_error(served.feedback(body), status, code, message)
    assert served.runtime.store.get_outcomes(["known-1"]) == {}


def test_feedback_takes_only_post(served: Served) -> None:
    """GET /feedback is a 405 in the one error shape."""
    assert_error(served.client.get("/feedback"), 405, "method_not_allowed", "method GET is not allowed on /feedback")

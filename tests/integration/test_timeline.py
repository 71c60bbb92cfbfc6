"""The timeline (traffic share, quality and shadow agreement per version over time) from records written
to a real SQLite store at chosen times, and GET /models/{m}/timeline on the ASGI app over a real runtime."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from registry_client.analysis.timeline import BUCKETS, bucket_for, timeline
from registry_client.store import Store, open_store
from tests.support.cli import run_json
from tests.support.gateways import canaried_gateway
from tests.support.records import make_record
from tests.support.tokens import FEEDBACK_TOKEN, READ_TOKEN, bearer

T0 = 1_700_000_040.0  # a multiple of 60


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield opened
    opened.close()


def _write(store: Store) -> None:
    """Minute 0: v1 serves 3 requests (2 right of 2 labelled), v2 1 (wrong); shadow v3 mirrors two of v1's,
    agreeing once. Minute 2: v2 serves 2 requests (both right); minute 1 is empty."""
    records = [
        make_record(0, ts=T0 + 1, predictions=[0]),
        # the shadow of r1 is written before its primary, the one of r0 after it: both pair up
        make_record(11, request_id="r1", ts=T0 + 2, predictions=[2], model_version="v3", shadow=True, primary_id="p1"),
        make_record(1, ts=T0 + 2, predictions=[1]),
        make_record(2, ts=T0 + 3, predictions=[2]),
        make_record(3, ts=T0 + 4, predictions=[1], model_version="v2", route="canary"),
        make_record(10, request_id="r0", ts=T0 + 1, predictions=[0], model_version="v3", shadow=True, primary_id="p0"),
        make_record(5, ts=T0 + 121, predictions=[1], model_version="v2", route="canary"),
        make_record(6, ts=T0 + 122, predictions=[0], model_version="v2", route="canary"),
    ]
    store.append_predictions(records)
    for request_id, outcome in (("r0", 0), ("r1", 1), ("r3", 2), ("r5", 1), ("r6", 0)):
        store.put_outcome(request_id, [outcome], T0 + 200, T0 + 200)


def test_buckets_count_traffic_share_quality_and_agreement(sqlite: Store) -> None:
    """Per minute: requests and share per version, accuracy of labelled rows, shadow agreement in the
    primary's bucket; an empty minute has no share and no accuracy; shadow rows are not traffic."""
    _write(sqlite)
    found = timeline(sqlite, "iris", task="classification", now=T0 + 300, since=T0, until=T0 + 180, bucket_s=60)
    body = found.to_json()
    assert body["starts"] == [T0, T0 + 60, T0 + 120]
    assert body["traffic"]["requests"] == {"v1": [3, 0, 0], "v2": [1, 0, 2]}
    assert body["traffic"]["share_pct"] == {"v1": [75.0, None, 0.0], "v2": [25.0, None, 100.0]}
    assert body["quality"]["metric"] == "accuracy"
    assert body["quality"]["values"] == {
        "v1": [1.0, None, None],
        "v2": [0.0, None, 1.0],
        "v3 · shadow": [0.5, None, None],
    }
    assert body["quality"]["outcomes"] == {"v1": [2, 0, 0], "v2": [1, 0, 2], "v3 · shadow": [2, 0, 0]}
    assert body["shadow"] == {"metric": "agreement", "values": {"v3": [0.5, None, None]}, "pairs": {"v3": [2, 0, 0]}}


def test_a_regressors_timeline_is_mae_and_mean_absolute_difference(sqlite: Store) -> None:
    """For a regressor, quality is the mean absolute error and the shadow's the mean |shadow − primary|."""
    sqlite.append_predictions(
        [
            make_record(0, ts=T0 + 1, predictions=[10.0]),
            make_record(1, ts=T0 + 2, predictions=[20.0]),
            make_record(9, request_id="r0", ts=T0 + 1, predictions=[13.0], model_version="v3", shadow=True),
        ]
    )
    sqlite.put_outcome("r0", [12.0], T0, T0)
    sqlite.put_outcome("r1", [16.0], T0, T0)
    body = timeline(sqlite, "iris", task="regression", now=T0 + 60, since=T0, until=T0 + 60, bucket_s=60).to_json()
    assert body["quality"] == {
        "metric": "mae",
        "values": {"v1": [3.0], "v3 · shadow": [1.0]},
        "outcomes": {"v1": [2], "v3 · shadow": [1]},
    }
    assert body["shadow"]["metric"] == "mean_abs_difference" and body["shadow"]["values"] == {"v3": [3.0]}


def test_without_a_bucket_the_window_is_cut_into_at_most_max_buckets(sqlite: Store) -> None:
    """The chosen bucket is the smallest listed size that keeps the window within max_buckets."""
    _write(sqlite)
    found = timeline(sqlite, "iris", task="classification", now=T0 + 7200, since=T0, max_buckets=100)
    assert found.bucket_s == 120 and len(found.starts) <= 101
    assert sum(found.requests["v1"]) == 3 and sum(found.requests["v2"]) == 3
    assert bucket_for(10, 100) == 1 and bucket_for(10**9, 10) == BUCKETS[-1]


@pytest.fixture
def served(
    tmp_path: Path, model_name: str, iris, iris_models
) -> Iterator[tuple[TestClient, str, Path, dict[str, int]]]:
    """v1 stable and v2 a 50 % canary with 60 labelled predictions; the routes they took, counted."""
    X, y = iris
    routes: dict[str, int] = {}
    with canaried_gateway(tmp_path, model_name, iris_models) as gateway:
        client = gateway.client
        for i in range(60):
            row = (i * 7) % len(y)
            answer = client.post("/predict", json={"model": model_name, "inputs": [list(map(float, X[row]))]})
            assert answer.status_code == 200, answer.text
            version = answer.json()["model_version"]
            routes[version] = routes.get(version, 0) + 1
            body = {"request_id": answer.json()["request_id"], "outcome": int(y[row])}
            assert client.post("/feedback", json=body, headers=bearer(FEEDBACK_TOKEN)).status_code == 202
        yield client, model_name, tmp_path, routes


def test_the_timeline_route_agrees_with_the_traffic_and_eval_json(served) -> None:
    """GET /models/{m}/timeline needs the read token; its requests per version are the requests served, its
    accuracy weighted by outcomes is eval --json's, and its revisions are the plan history's."""
    client, model, tmp, routes = served
    assert client.get(f"/models/{model}/timeline").status_code == 401
    answer = client.get(f"/models/{model}/timeline", headers=bearer(READ_TOKEN))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert {v: sum(n) for v, n in body["traffic"]["requests"].items()} == routes
    for share in zip(*body["traffic"]["share_pct"].values(), strict=True):
        assert None in share or sum(share) == pytest.approx(100.0)
    report = run_json("eval", model, store_url=f"sqlite:///{tmp / 'store.db'}", home=tmp / "cli")
    for group in report["groups"]:
        values, outcomes = (
            body["quality"]["values"][group["model_version"]],
            body["quality"]["outcomes"][group["model_version"]],
        )
        weighted = sum(v * n for v, n in zip(values, outcomes, strict=True) if v is not None) / sum(outcomes)
        assert weighted == pytest.approx(group["accuracy"]["value"])
    history = run_json("history", model, store_url=f"sqlite:///{tmp / 'store.db'}", home=tmp / "cli")
    assert [r["revision"] for r in body["revisions"]] == [e["revision"] for e in history["plan"]]
    assert body["revisions"][-1]["canary"] == "v2" and body["revisions"][-1]["weight"] == 50


def test_the_timeline_route_refuses_a_bad_bucket_and_an_unknown_model(served) -> None:
    """A bucket that is not whole seconds, out of range or makes too many buckets is a 422 naming bucket;
    an unknown model is a 404."""
    client, model, _tmp, _routes = served
    read = bearer(READ_TOKEN)
    for bucket, params in (("1.5", {}), ("0", {}), ("1", {"since": "0"})):
        refused = client.get(f"/models/{model}/timeline", params={"bucket": bucket, **params}, headers=read)
        assert refused.status_code == 422, refused.text
        assert "query parameter bucket" in refused.json()["error"]["message"]
    assert client.get("/models/no-such-model/timeline", headers=read).status_code == 404

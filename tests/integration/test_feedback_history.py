"""Late labels in the sink layout: gateways on Redis (a week of request index), history in the sink's
PostgreSQL. With CANARYLINE_HISTORY_DSN, feedback for a request Redis no longer finds is joined there."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import redis

from registry_client.domain.records import PredictionRecord
from registry_client.store import open_store
from registry_client.store.postgres import PostgresStore
from registry_client.store.redis import outcome_key
from tests.support.assertions import assert_error
from tests.support.gateways import Gateway, gateway
from tests.support.records import make_record
from tests.support.servers import wait_until
from tests.support.sink import pg_count, running_sink
from tests.support.tokens import FEEDBACK_TOKEN, bearer

pytestmark = [pytest.mark.redis, pytest.mark.postgres]
ROW = [5.1, 3.5, 1.4, 0.2]
DAY = 86_400.0


@dataclass
class Layout:
    served: Gateway
    model: str
    redis_client: redis.Redis
    postgres_url: str

    def feedback(self, request_id: str, outcome: object) -> tuple[int, dict]:
        response = self.served.client.post(
            "/feedback", json={"request_id": request_id, "outcome": outcome}, headers=bearer(FEEDBACK_TOKEN)
        )
        return response.status_code, response.json()

    def joined(self) -> list[tuple[str, str, object]]:
        with psycopg.connect(self.postgres_url) as conn:
            query = "SELECT request_id, model_version, outcome FROM canaryline.joined ORDER BY 1"
            rows = conn.execute(query).fetchall()
        return [(r[0], r[1], r[2]) for r in rows]


@pytest.fixture(params=[True, False], ids=["with-history", "without-history"])
def layout(
    request: pytest.FixtureRequest,
    redis_url: str,
    redis_client: redis.Redis,
    postgres_db: str,
    tmp_path: Path,
    model_name: str,
    iris_models,
) -> Iterator[Layout]:
    """A gateway on Redis serving iris v1; with or without the sink's PostgreSQL as its history."""
    PostgresStore(postgres_db).close()  # the schema, as the sink (or `canaryline serve`) makes it
    history = postgres_db if request.param else None
    with gateway(redis_url, tmp_path, {model_name: [iris_models["logreg"]]}, history_dsn=history) as served:
        yield Layout(served, model_name, redis_client, postgres_db)


def _old_record(model: str, request_id: str, days: float) -> PredictionRecord:
    """A prediction of ``model`` v1 logged ``days`` ago, as the sink wrote it into PostgreSQL back then."""
    return make_record(model=model, model_version="v1", request_id=request_id, ts=time.time() - days * DAY)


def test_a_label_for_a_request_redis_no_longer_indexes_is_joined_in_postgres(layout: Layout) -> None:
    """Served and drained, then Redis' request index expires: the outcome is joined in PostgreSQL (202),
    and nothing of it is written to Redis; without a history database it is the 404 it always was."""
    response = layout.served.client.post(
        "/predict", json={"model": layout.model, "inputs": [ROW]}, headers={"X-Request-ID": "order-7"}
    )
    assert response.status_code == 200, response.text
    with running_sink(layout.served.runtime.store.url, layout.postgres_url):
        wait_until(lambda: pg_count(layout.postgres_url) == 1, 30, "the record in PostgreSQL")
    [index] = layout.redis_client.keys("*order-7*")
    layout.redis_client.pexpire(index, 1)  # the week is over: Redis itself expires the index
    wait_until(lambda: not layout.redis_client.exists(index), 5, "the index expired")
    status, body = layout.feedback("order-7", 0)
    if layout.served.runtime.feedback.history is None:
        assert status == 404 and body["error"]["code"] == "unknown_request", body
        assert layout.joined() == [("order-7", "v1", None)]
        return
    assert status == 202, body
    assert (body["model"], body["versions"], body["replaced"]) == (layout.model, ["v1"], False)
    assert layout.joined() == [("order-7", "v1", 0)]
    assert layout.redis_client.get(outcome_key("order-7")) is None
    status, body = layout.feedback("order-7", 2)  # a correction replaces it, counted once
    assert (status, body["replaced"]) == (202, True)
    assert layout.joined() == [("order-7", "v1", 2)]


def test_a_label_for_a_request_logged_90_days_ago_is_joined_or_refused_clearly(layout: Layout) -> None:
    """A request logged 90 days ago lives only in PostgreSQL: its label is joined there; a wrong class is
    still a 422 naming the field; an unknown request is still a 404."""
    history = open_store(layout.postgres_url)
    try:
        history.append_predictions([_old_record(layout.model, "loan-90", 90)])
    finally:
        history.close()
    status, body = layout.feedback("loan-90", 1)
    if layout.served.runtime.feedback.history is None:
        assert status == 404 and body["error"]["code"] == "unknown_request", body
        return
    assert status == 202, body
    assert layout.joined() == [("loan-90", "v1", 1)]
    response = layout.served.client.post(
        "/feedback", json={"request_id": "loan-90", "outcome": 7}, headers=bearer(FEEDBACK_TOKEN)
    )
    assert_error(response, 422, "invalid_input", "field 'outcome' must be one of the classes")
    status, body = layout.feedback("never-served", 1)
    assert status == 404 and body["error"]["code"] == "unknown_request", body

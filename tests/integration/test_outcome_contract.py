"""The outcome contract and the joined view: the SQLite, Redis and PostgreSQL stores behave the same."""

from __future__ import annotations

import threading

import orjson
import pytest
import redis

from registry_client.analysis.joined import joined_rows
from registry_client.domain.records import OutcomeRecord, PredictionRecord
from registry_client.store import Store
from registry_client.store.redis import RedisStore

T0 = 1_700_000_000.0


def record(
    i: int,
    *,
    request_id: str | None = None,
    rows: int = 1,
    shadow: bool = False,
    ts: float | None = None,
    primary_id: str | None = None,
) -> PredictionRecord:
    return PredictionRecord(
        primary_id=primary_id,
        prediction_id=f"{'s' if shadow else 'p'}{i}",
        request_id=request_id or f"r{i}",
        ts=T0 + i if ts is None else ts,
        model="iris",
        model_version="v2" if shadow else "v1",
        route="shadow" if shadow else "stable",
        revision=1,
        inputs=[[float(i), 1.0]] * rows,
        predictions=[i % 3] * rows,
        latency_ms=1.5,
        instance="test",
        shadow=shadow,
    )


def test_a_new_outcome_is_stored_and_read_back_exactly(store: Store) -> None:
    """put_outcome on a new request returns False; get_outcomes returns value and times unchanged."""
    assert store.put_outcome("r1", [2, "setosa", 1.25], T0 + 5, T0 + 9.5) is False
    assert store.get_outcomes(["r1"]) == {"r1": OutcomeRecord("r1", [2, "setosa", 1.25], T0 + 5, T0 + 9.5)}


def test_posting_again_replaces_the_outcome(store: Store) -> None:
    """A second outcome for the same request replaces the first and says so; one outcome remains."""
    store.put_outcome("r1", [0], T0, T0 + 1)
    assert store.put_outcome("r1", [2], T0 + 2, T0 + 3) is True
    assert store.get_outcomes(["r1"]) == {"r1": OutcomeRecord("r1", [2], T0 + 2, T0 + 3)}


def test_outcomes_are_read_in_a_batch_and_unknown_ids_are_absent(store: Store) -> None:
    """get_outcomes returns exactly the requests that have an outcome, whatever the order or repeats."""
    for i in range(0, 1200, 2):
        store.put_outcome(f"r{i}", [i], T0, T0)
    wanted = [f"r{i}" for i in range(1200)] + ["r0", "nope"]
    found = store.get_outcomes(wanted)
    assert sorted(found) == sorted(f"r{i}" for i in range(0, 1200, 2))
    assert all(found[f"r{i}"].outcome == [i] for i in range(0, 1200, 2))
    assert store.get_outcomes([]) == {}
    assert store.get_outcomes(["missing"]) == {}


def test_concurrent_posts_for_one_request_leave_one_outcome(store: Store) -> None:
    """Eight threads posting for the same request: exactly one creates it, the rest replace, one remains."""
    results: list[bool] = []
    lock = threading.Lock()

    def post(value: int) -> None:
        replaced = store.put_outcome("shared", [value], T0, T0 + value)
        with lock:
            results.append(replaced)

    threads = [threading.Thread(target=post, args=(v,)) for v in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] + [True] * 7
    [(request_id, outcome)] = store.get_outcomes(["shared"]).items()
    assert request_id == "shared" and outcome.outcome[0] in range(8)
    assert outcome.received_at == T0 + outcome.outcome[0]


def test_predictions_can_be_streamed_for_a_time_window(store: Store) -> None:
    """iter_predictions(since, until) yields the records with since <= ts < until, in write order."""
    store.append_predictions([record(i) for i in range(2_100)])
    window = [r.prediction_id for r in store.iter_predictions("iris", since=T0 + 900, until=T0 + 1_050)]
    assert window == [f"p{i}" for i in range(900, 1_050)]
    assert sum(1 for _ in store.iter_predictions("iris", since=T0 + 2_000)) == 100
    assert sum(1 for _ in store.iter_predictions("iris", until=T0 + 10)) == 10
    assert list(store.iter_predictions("other", since=T0)) == []


def test_joined_view_joins_one_outcome_to_primary_and_shadow(store: Store) -> None:
    """A request's outcome joins its primary and its shadow record, row by row; others stay unjoined."""
    store.append_predictions([record(1, rows=2), record(1, rows=2, shadow=True), record(2)])
    store.put_outcome("r1", [0, 2], T0, T0)
    rows = list(joined_rows(store, "iris"))
    assert [(r.prediction_id, r.row_index, r.outcome) for r in rows] == [
        ("p1", 0, 0),
        ("p1", 1, 2),
        ("s1", 0, 0),
        ("s1", 1, 2),
        ("p2", 0, None),
    ]


def test_joined_view_counts_a_reposted_outcome_once(store: Store) -> None:
    """Posting twice for a request leaves each of its rows joined once, with the latest outcome."""
    store.append_predictions([record(1)])
    store.put_outcome("r1", [0], T0, T0)
    store.put_outcome("r1", [1], T0, T0)
    assert [(r.prediction_id, r.outcome) for r in joined_rows(store, "iris")] == [("p1", 1)]


def test_joined_view_streams_in_pages_and_filters_by_time(store: Store) -> None:
    """Across many pages every record comes once, joined, and since/until bound the rows."""
    store.append_predictions([record(i) for i in range(1_000)])
    for i in range(0, 1_000, 3):
        store.put_outcome(f"r{i}", [i % 3], T0, T0)
    rows = list(joined_rows(store, "iris", page=64))
    assert [r.prediction_id for r in rows] == [f"p{i}" for i in range(1_000)]
    assert [r.outcome for r in rows] == [0 if i % 3 == 0 else None for i in range(1_000)]
    windowed = list(joined_rows(store, "iris", since=T0 + 100, until=T0 + 200, page=7))
    assert [r.prediction_id for r in windowed] == [f"p{i}" for i in range(100, 200)]
    with pytest.raises(ValueError, match="page must be at least 1"):
        next(joined_rows(store, "iris", page=0))


def test_an_outcome_naming_a_prediction_joins_only_it_and_its_shadow(store: Store) -> None:
    """Two predictions under one request_id: an outcome naming p1 joins p1 and its shadow, not p2 or its shadow."""
    store.append_predictions(
        [
            record(1, request_id="dup"),
            record(1, request_id="dup", shadow=True, primary_id="p1"),
            record(2, request_id="dup"),
            record(2, request_id="dup", shadow=True, primary_id="p2"),
        ]
    )
    assert store.put_outcome("dup", [2], T0, T0 + 1, prediction_id="p1") is False
    assert [(r.prediction_id, r.outcome) for r in joined_rows(store, "iris")] == [
        ("p1", 2),
        ("s1", 2),
        ("p2", None),
        ("s2", None),
    ]
    assert store.get_outcomes(["dup"]) == {}
    assert store.put_outcome("dup", [0], T0, T0 + 2, prediction_id="p2") is False
    assert [(r.prediction_id, r.outcome) for r in joined_rows(store, "iris")] == [
        ("p1", 2),
        ("s1", 2),
        ("p2", 0),
        ("s2", 0),
    ]


def test_a_named_outcome_is_replaced_only_by_one_naming_the_same_prediction(store: Store) -> None:
    """Reposting for p1 replaces p1's outcome (True) and leaves p2's; each is read back by prediction_id."""
    store.put_outcome("dup", [0], T0, T0, prediction_id="p1")
    store.put_outcome("dup", [1], T0, T0 + 1, prediction_id="p2")
    assert store.put_outcome("dup", [2], T0 + 5, T0 + 6, prediction_id="p1") is True
    assert store.get_prediction_outcomes(["p1", "p2", "p3", "p1"]) == {
        "p1": OutcomeRecord("dup", [2], T0 + 5, T0 + 6, prediction_id="p1"),
        "p2": OutcomeRecord("dup", [1], T0, T0 + 1, prediction_id="p2"),
    }
    assert store.get_prediction_outcomes([]) == {}


def test_a_named_outcome_wins_over_the_request_outcome_for_its_prediction(store: Store) -> None:
    """A request outcome (posted before the id was reused) still joins the records no named outcome covers."""
    store.append_predictions([record(1, request_id="dup"), record(2, request_id="dup")])
    store.put_outcome("dup", [1], T0, T0)
    store.put_outcome("dup", [2], T0, T0, prediction_id="p2")
    assert [(r.prediction_id, r.outcome) for r in joined_rows(store, "iris")] == [("p1", 1), ("p2", 2)]


@pytest.mark.redis
def test_redis_outcomes_expire_like_the_request_index(redis_url: str, redis_client: redis.Redis) -> None:
    """In Redis an outcome is one JSON key with the request index's TTL, refreshed when replaced."""
    store = RedisStore(redis_url, index_ttl_s=3_600)
    try:
        store.append_predictions([record(1)])
        store.put_outcome("r1", [1], T0, T0 + 1)
        redis_client.expire("canaryline:outcome:r1", 10)
        store.put_outcome("r1", [2], T0, T0 + 2)
        assert 3_590 < redis_client.ttl("canaryline:outcome:r1") <= 3_600
        assert 3_590 < redis_client.ttl("canaryline:req:r1") <= 3_600
        assert (
            redis_client.get("canaryline:outcome:r1")
            == b'{"outcome":[2],"observed_at":1700000000.0,"received_at":1700000002.0}'
        )
    finally:
        store.close()


@pytest.mark.redis
def test_redis_outcomes_naming_a_prediction_expire_too(redis_url: str, redis_client: redis.Redis) -> None:
    """An outcome naming a prediction is one JSON key per prediction_id, with the request index's TTL."""
    store = RedisStore(redis_url, index_ttl_s=3_600)
    try:
        store.put_outcome("dup", [1], T0, T0 + 1, prediction_id="p7")
        assert 3_590 < redis_client.ttl("canaryline:outcome-of:p7") <= 3_600
        assert orjson.loads(redis_client.get("canaryline:outcome-of:p7")) == {
            "outcome": [1],
            "observed_at": T0,
            "received_at": T0 + 1,
            "request_id": "dup",
        }
    finally:
        store.close()

"""What the PostgreSQL store adds to the contract: NOTIFY, partitions, exactly-once writes, SQL views, faults."""

from __future__ import annotations

import threading
from dataclasses import replace

import psycopg
import pytest

from registry_client.analysis.joined import joined_rows
from registry_client.domain.plan import Plan
from registry_client.domain.records import PredictionRecord
from registry_client.errors import StoreUnavailableError
from registry_client.registry.registry import Registry
from registry_client.store import Store, open_store
from registry_client.store.postgres import PostgresStore
from tests.support.records import make_record
from tests.support.servers import LOADED_TIMEOUT_S as LOADED
from tests.support.servers import free_port, wait_until

pytestmark = pytest.mark.postgres

DAY = 86_400.0
T0 = 1_764_633_600.0  # 2025-12-02 00:00 UTC


def record(i: int, *, ts: float, request_id: str | None = None, shadow: bool = False) -> PredictionRecord:
    return replace(make_record(i, request_id=request_id, shadow=shadow), ts=ts, inputs=[[float(i), 1.0]])


@pytest.fixture
def pg(postgres_db: str):
    store = PostgresStore(postgres_db, timeout_s=LOADED)
    yield store
    store.close()


def partitions(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'canaryline.predictions'::regclass ORDER BY 1"
        ).fetchall()
    return [name for (name,) in rows]


def test_a_plan_change_wakes_a_waiting_gateway_of_another_process(pg: PostgresStore, postgres_db: str) -> None:
    """save_plan's NOTIFY reaches a waiter on another store (another replica) long before its timeout."""
    other = PostgresStore(postgres_db, timeout_s=LOADED)
    try:
        other.wait_plan_change(0)  # LISTEN is now in place
        woke = threading.Event()

        def wait() -> None:
            other.wait_plan_change(120)
            woke.set()

        waiter = threading.Thread(target=wait, daemon=True)
        waiter.start()
        pg.save_plan(Plan.initial("iris", "v1"), before=None, action="create")
        assert woke.wait(60), "the waiter slept through the notification"
    finally:
        other.close()


def test_waiting_on_an_unreachable_database_falls_back_to_sleeping() -> None:
    """With nothing listening on the port, wait_plan_change neither raises nor returns early by much."""
    store = PostgresStore(f"postgresql://postgres@127.0.0.1:{free_port()}/postgres", timeout_s=0.5)
    try:
        store.wait_plan_change(0.2)  # returns: the caller's epoch check takes over
        with pytest.raises(StoreUnavailableError, match="Connection refused"):
            store.plans_epoch()
    finally:
        store.close()


def test_each_day_gets_its_own_partition_including_one_90_days_back(pg: PostgresStore, postgres_db: str) -> None:
    """Records of three days, one of them 90 days old, land in three day partitions and read back in order."""
    pg.append_predictions([record(1, ts=T0 - 90 * DAY), record(2, ts=T0 + 5), record(3, ts=T0 + DAY + 5)])
    assert partitions(postgres_db) == ["predictions_20250903", "predictions_20251202", "predictions_20251203"]
    assert [r.prediction_id for r in pg.iter_predictions("iris")] == ["p1", "p2", "p3"]
    window = pg.iter_predictions("iris", since=T0, until=T0 + DAY)
    assert [r.prediction_id for r in window] == ["p2"]


def test_a_prediction_id_is_written_once_even_with_another_day_as_its_ts(pg: PostgresStore) -> None:
    """The prediction_ids table keeps writes idempotent across partitions, not only within one day."""
    pg.append_predictions([record(1, ts=T0)])
    pg.append_predictions([record(1, ts=T0 + 3 * DAY), record(2, ts=T0 + 3 * DAY), record(2, ts=T0)])
    assert pg.count_predictions() == 2
    assert [(r.prediction_id, r.ts) for r in pg.iter_predictions()] == [("p1", T0), ("p2", T0 + 3 * DAY)]


def test_concurrent_writers_of_the_same_batch_write_it_once(pg: PostgresStore) -> None:
    """Four threads replaying one batch at once (a spool replay racing a retry) leave each record once."""
    batch = [record(i, ts=T0 + i) for i in range(200)]
    threads = [threading.Thread(target=pg.append_predictions, args=(batch,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert pg.count_predictions() == 200
    assert [r.prediction_id for r in pg.iter_predictions()] == [f"p{i}" for i in range(200)]


def test_a_label_for_a_request_logged_90_days_ago_is_joined(pg: PostgresStore) -> None:
    """Outcomes never expire: feedback for a 90-day-old request joins it in the store and in the SQL view."""
    pg.append_predictions([record(1, ts=T0 - 90 * DAY, request_id="old")])
    assert [r.prediction_id for r in pg.predictions_for_request("old")] == ["p1"]
    pg.put_outcome("old", [1], T0, T0 + 1)
    assert [(r.prediction_id, r.outcome) for r in joined_rows(pg, "iris")] == [("p1", 1)]
    with pg._conn("test") as conn:
        assert conn.execute("SELECT prediction_id, outcome FROM canaryline.joined").fetchall() == [("p1", 1)]


def test_the_joined_view_in_sql_equals_the_joined_rows_in_python(pg: PostgresStore) -> None:
    """canaryline.joined holds the same rows as joined_rows: multi-row batches, shadows, named outcomes."""
    primary = replace(record(1, ts=T0, request_id="dup"), inputs=[[1.0, 2.0], [3.0, 4.0]], predictions=[0, 1])
    shadow = replace(primary, prediction_id="s1", shadow=True, route="shadow", primary_id="p1", model_version="v2")
    second = record(2, ts=T0 + 1, request_id="dup")
    lone = record(3, ts=T0 + 2)
    unlabelled = record(4, ts=T0 + 3)
    pg.append_predictions([primary, shadow, second, lone, unlabelled])
    pg.put_outcome("dup", [5], T0, T0)  # the request's outcome: only p2 keeps it
    pg.put_outcome("dup", [2, 3], T0, T0, prediction_id="p1")
    pg.put_outcome("r3", 7, T0, T0)  # a bare value: the outcome of a one-row request
    expected = [(r.prediction_id, r.row_index, r.inputs, r.prediction, r.outcome) for r in joined_rows(pg, "iris")]
    with pg._conn("test") as conn:
        rows = conn.execute(
            "SELECT prediction_id, row_index, inputs, prediction, outcome FROM canaryline.joined "
            "ORDER BY ts, shadow, prediction_id, row_index"
        ).fetchall()
    assert [tuple(row) for row in rows] == expected
    assert expected[-1] == ("p4", 0, [4.0, 1.0], 4, None)


def test_a_stalled_database_costs_one_statement_timeout(pg: PostgresStore, postgres_db: str) -> None:
    """A table locked by another session: the call fails as unavailable after store_timeout_s, not hangs."""
    pg.save_plan(Plan.initial("iris", "v1"), before=None, action="create")
    store = open_store(postgres_db, timeout_s=0.5)
    try:
        wait_until(lambda: _answers(store), 60, "the 0.5 s store's first pooled connection")
        with psycopg.connect(postgres_db) as blocker:
            blocker.execute("LOCK TABLE canaryline.plans IN ACCESS EXCLUSIVE MODE")
            with pytest.raises(StoreUnavailableError, match="statement timeout"):
                store.get_plan("iris")
        assert pg.get_plan("iris") is not None  # the lock is gone with its session
    finally:
        store.close()


def _answers(store: Store) -> bool:
    try:
        store.ping()
    except StoreUnavailableError:
        return False  # connecting took longer than 0.5 s on this loaded machine: the pool keeps trying
    return True


def test_a_missing_database_is_named_and_credentials_are_not(postgres_url: str) -> None:
    """Connecting to a database that does not exist says so, and never shows the password."""
    url = postgres_url.replace("postgres@", "postgres:s3cret@").rsplit("/", 1)[0] + "/no_such_db"
    store = open_store(url)
    try:
        with pytest.raises(StoreUnavailableError, match='database "no_such_db" does not exist') as info:
            store.ping()
        assert "s3cret" not in info.value.message
    finally:
        store.close()


def test_registering_a_version_fills_the_model_versions_table(pg: PostgresStore, model_name: str, iris_models) -> None:
    """Each registered version gets its analyst row: task, framework, params, metrics, SHA-256, artifact."""
    registry = Registry(pg)
    info = registry.register(
        model_name, iris_models["logreg"], params={"C": 1.0}, metrics={"accuracy": 0.97}, data_version="d1"
    )
    registry.register(model_name, iris_models["tree"], description="a tree")
    with pg._conn("test") as conn:
        rows = conn.execute(
            "SELECT version, task, framework, params, metrics, data_version, description, sha256, artifact_uri "
            "FROM canaryline.model_versions WHERE name = %s ORDER BY version",
            (model_name,),
        ).fetchall()
    assert rows[0] == (
        "v1",
        "classification",
        info.framework,
        {"C": 1.0},
        {"accuracy": 0.97},
        "d1",
        "",
        info.sha256,
        f"bentoml:{model_name}:v1",
    )
    assert [(r[0], r[6]) for r in rows] == [("v1", ""), ("v2", "a tree")]

"""The PostgreSQL schema's versioned migrations: from empty, from the previous version, at once, and too new."""

from __future__ import annotations

import multiprocessing
import threading

import psycopg
import pytest

from registry_client.domain.plan import AuditEntry, Plan
from registry_client.errors import StoreSchemaError
from registry_client.store.postgres import PostgresStore, prepare_database
from registry_client.store.postgres.connection import connect
from registry_client.store.postgres.migrations import latest_version, migrate, migrations
from tests.support.records import make_record
from tests.support.servers import LOADED_TIMEOUT_S as LOADED
from tests.support.versions import make_version

pytestmark = pytest.mark.postgres


def tables(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'canaryline' AND c.relkind IN ('r', 'p', 'v') ORDER BY 1"
        ).fetchall()
    return [name for (name,) in rows]


def versions(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        return [v for (v,) in conn.execute("SELECT version FROM canaryline.schema_version ORDER BY version")]


def test_the_shipped_migrations_are_numbered_one_by_one() -> None:
    """Migration files are versions 1, 2, … with no gap, so 'the previous version' is always well defined."""
    assert [m.version for m in migrations()] == list(range(1, latest_version() + 1))
    assert latest_version() >= 2


def test_an_empty_database_gets_the_whole_schema(postgres_db: str) -> None:
    """The first store on an empty database creates the canaryline schema at the newest version."""
    assert prepare_database(postgres_db, LOADED) == latest_version()
    assert versions(postgres_db) == list(range(1, latest_version() + 1))
    assert set(tables(postgres_db)) >= {
        "joined",
        "model_versions",
        "outcomes",
        "plan_history",
        "plans",
        "plans_epoch",
        "prediction_ids",
        "prediction_outcomes",
        "predictions",
        "schema_version",
        "version_events",
    }


def test_a_database_at_the_previous_version_is_migrated_and_keeps_its_data(postgres_db: str) -> None:
    """Data written under schema N-1 is still there after the store migrates to N, and the new view reads it."""
    conn = connect(postgres_db, LOADED)
    try:
        assert migrate(conn, upto=latest_version() - 1) == latest_version() - 1
    finally:
        conn.close()
    assert "version_events" not in tables(postgres_db)
    with psycopg.connect(postgres_db, autocommit=True) as raw:  # rows as code of schema N-1 wrote them
        raw.execute(
            "INSERT INTO canaryline.model_versions (name, version, task, framework, sha256, artifact_uri, created_at) "
            "VALUES ('iris', 'v1', 'classification', 'bentoml.sklearn', %s, 'bentoml:iris:v1', now())",
            ("ab" * 32,),
        )
        raw.execute(
            "CREATE TABLE canaryline.predictions_20251202 PARTITION OF canaryline.predictions "
            "FOR VALUES FROM ('2025-12-02 00:00+00') TO ('2025-12-03 00:00+00')"
        )
        raw.execute("INSERT INTO canaryline.prediction_ids VALUES ('p1', '2025-12-02 10:00+00')")
        raw.execute(
            "INSERT INTO canaryline.predictions (prediction_id, request_id, ts, model, model_version, route, "
            "revision, shadow, inputs, predictions, latency_ms, instance) VALUES ('p1', 'r1', '2025-12-02 10:00+00', "
            "'iris', 'v1', 'stable', 1, false, '[[1.0, 2.0]]', '[0]', 0.5, 'old')"
        )
        plan = Plan.initial("iris", "v1")
        entry = AuditEntry.of(plan, before=None, action="create")
        raw.execute(
            "INSERT INTO canaryline.plans (model, revision, body) VALUES ('iris', 1, %s::jsonb)",
            (plan.model_dump_json(),),
        )
        raw.execute(
            "INSERT INTO canaryline.plan_history (model, revision, at, actor, action, reason, after, entry) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb)",
            (
                entry.model,
                entry.revision,
                entry.at,
                entry.actor,
                entry.action,
                entry.reason,
                plan.model_dump_json(),
                entry.model_dump_json(),
            ),
        )
    store = PostgresStore(postgres_db, timeout_s=LOADED)
    try:
        store.put_outcome("r1", [0], 1.0, 2.0)
        assert [r.prediction_id for r in store.predictions_for_request("r1")] == ["p1"]
        store.append_predictions([make_record(1)])  # p1 again: still written once
        assert store.count_predictions() == 1
        assert store.history("iris") == [entry] and entry.evidence is None
        assert store.get_plan("iris") == plan and store.get_rollout("iris") is None
        # a version row of schema 3 is the analysts' copy of a BentoML-store version: not in the catalog until
        # adopted, and adopting it replaces the row with the full record
        assert store.get_version("iris", "v1") is None and store.list_models() == []
        record = make_version("iris", "v1")
        assert store.register_version(record, first_plan=plan) is False
        assert store.get_version("iris", "v1") == record
        with store._conn("test") as conn:
            assert conn.execute("SELECT prediction_id, outcome FROM canaryline.joined").fetchall() == [("p1", 0)]
    finally:
        store.close()
    assert versions(postgres_db) == list(range(1, latest_version() + 1))


def test_gateways_starting_at_once_apply_each_migration_once(postgres_db: str) -> None:
    """Eight threads migrating one empty database at once: all succeed, each version is applied once."""
    results: list[int | BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def run() -> None:
        start.wait()
        try:
            found: int | BaseException = prepare_database(postgres_db, 10.0)
        except BaseException as exc:
            found = exc
        with lock:
            results.append(found)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [latest_version()] * 8
    assert versions(postgres_db) == list(range(1, latest_version() + 1))


def _start_a_store(url: str) -> int:
    store = PostgresStore(url, timeout_s=10.0)
    try:
        store.save_plan(Plan.initial(f"m{multiprocessing.current_process().pid}", "v1"), before=None, action="create")
        return store.plans_epoch()
    finally:
        store.close()


def test_processes_starting_at_once_share_one_schema(postgres_db: str) -> None:
    """Four processes opening stores on one empty database at once each migrate or wait, then all write."""
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        epochs = pool.map(_start_a_store, [postgres_db] * 4)
    assert sorted(epochs)[-1] == 4
    assert versions(postgres_db) == list(range(1, latest_version() + 1))


def test_a_schema_newer_than_the_code_is_refused(postgres_db: str) -> None:
    """A database migrated by newer code (version 99) is refused with a message naming both versions."""
    prepare_database(postgres_db, LOADED)
    with psycopg.connect(postgres_db, autocommit=True) as raw:
        raw.execute("INSERT INTO canaryline.schema_version (version, name) VALUES (99, 'from_the_future')")
    with pytest.raises(
        StoreSchemaError, match=rf"at version 99, newer than this canaryline .*up to {latest_version()}"
    ):
        prepare_database(postgres_db, LOADED)
    store = PostgresStore(postgres_db, timeout_s=LOADED)
    try:
        with pytest.raises(StoreSchemaError):
            store.get_plan("iris")
    finally:
        store.close()

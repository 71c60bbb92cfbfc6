"""`canaryline sink` copies the version catalog and the registry audit from Redis into PostgreSQL, once each,
so `canaryline versions` and `canaryline models` against PostgreSQL list what was registered on Redis."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from registry_client.domain.model_version import ModelVersion
from registry_client.domain.plan import Canary, Plan
from registry_client.sink import PostgresTarget
from registry_client.sink.catalog import VersionMirror
from registry_client.store.postgres import PostgresStore
from registry_client.store.redis import RedisStore
from tests.support.cli import run_json
from tests.support.records import make_record
from tests.support.servers import LOADED_TIMEOUT_S, wait_until
from tests.support.sink import pg_count, running_sink
from tests.support.versions import make_version

pytestmark = [pytest.mark.redis, pytest.mark.postgres]
ARCHIVED_AT = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)


def _register(store: RedisStore, model: str, version: str, **changes: Any) -> ModelVersion:
    record = make_version(model, version, **changes)
    store.register_version(record, first_plan=Plan.initial(model, version, actor=record.created_by or "registry"))
    return record


def _rows(url: str, table: str) -> int:
    """Rows of a catalog table in PostgreSQL (a duplicate counts twice)."""
    with psycopg.connect(url) as conn:
        row = conn.execute(f"SELECT count(*) FROM canaryline.{table}").fetchone()  # noqa: S608
    return int(row[0]) if row else 0


def _listed(rows: list[dict[str, Any]]) -> list[tuple[ModelVersion, bool]]:
    """`canaryline versions --json` rows as records (timestamps compared as instants) with their stable flag."""
    return [(ModelVersion.from_dict(row), row["stable"]) for row in rows]


@pytest.fixture
def stores(redis_url: str, redis_client: redis.Redis, postgres_db: str):
    """The gateways' Redis store (flushed) and a PostgreSQL store on the sink's fresh database."""
    on_redis = RedisStore(redis_url)
    on_postgres = PostgresStore(postgres_db, timeout_s=LOADED_TIMEOUT_S)
    yield on_redis, on_postgres
    on_postgres.close()
    on_redis.close()


def test_versions_registered_on_redis_are_listed_against_postgres(
    stores: tuple[RedisStore, PostgresStore], redis_url: str, postgres_db: str, tmp_path: Path
) -> None:
    """Versions registered before and while the sink runs (a new model too) reach PostgreSQL with every field;
    `versions` and `models` there answer as on Redis, and the plan history is Redis' alone (no plan of its own)."""
    store, pg = stores
    first = _register(store, "iris", "v1")
    second = _register(
        store,
        "iris",
        "v2",
        framework="bentoml.xgboost",
        sha256="12" * 32,
        params={"max_depth": 6, "eta": 0.3},
        metrics={"accuracy": 0.9812, "f1": 0.97},
        data_version="batch-2026-12-02",
        code_version="def456",
        created=datetime(2026, 12, 2, 7, 15, 30, 123456, tzinfo=UTC),
    )
    with running_sink(redis_url, postgres_db):
        wait_until(lambda: len(pg.list_versions("iris")) == 2, 30, "the iris versions")
        _register(store, "wine", "v1", task="regression", classes=None, metrics={"rmse": 0.41})
        wait_until(lambda: pg.list_models() == ["iris", "wine"], 30, "the new model's version")
    assert pg.list_versions("iris") == [first, second]
    assert pg.get_version("iris", "v2") == second
    for model in ("iris", "wine"):
        assert pg.list_versions(model) == store.list_versions(model)
        assert pg.version_events(model) == store.version_events(model)
        assert pg.history(model) == store.history(model)  # revision 1 is Redis' entry, not one PostgreSQL made
    on_redis = run_json("versions", "iris", "--all", store_url=redis_url, home=tmp_path)
    on_postgres = run_json("versions", "iris", "--all", store_url=postgres_db, home=tmp_path)
    assert _listed(on_postgres) == _listed(on_redis)
    v2 = next(row for row in on_postgres if row["version"] == "v2")
    assert (v2["sha256"], v2["framework"], v2["data_version"], v2["code_version"]) == (
        "12" * 32,
        "bentoml.xgboost",
        "batch-2026-12-02",
        "def456",
    )
    assert v2["params"] == {"max_depth": 6, "eta": 0.3}
    assert (v2["metrics"], v2["stable"]) == ({"accuracy": 0.9812, "f1": 0.97}, False)
    models = run_json("models", store_url=postgres_db, home=tmp_path)
    assert models == run_json("models", store_url=redis_url, home=tmp_path)
    assert models == [
        {"model": "iris", "versions": 2, "stable": "v1"},
        {"model": "wine", "versions": 1, "stable": "v1"},
    ]


def test_an_archive_on_redis_is_mirrored(
    stores: tuple[RedisStore, PostgresStore], redis_url: str, postgres_db: str, tmp_path: Path
) -> None:
    """A version archived on Redis after it was copied is archived in PostgreSQL too, with the same time, actor
    and reason and one archive event; `versions` there hides it unless asked for every version."""
    store, pg = stores
    _register(store, "iris", "v1")
    _register(store, "iris", "v2")
    with running_sink(redis_url, postgres_db):
        wait_until(lambda: len(pg.list_versions("iris")) == 2, 30, "the versions")
        store.archive_version("iris", "v2", actor="ops@desk", reason="worse on batch 12", at=ARCHIVED_AT)
        wait_until(lambda: pg.list_versions("iris")[1].archived, 30, "the archive")
    archived = pg.get_version("iris", "v2")
    assert archived is not None
    assert (archived.archived_at, archived.archived_by, archived.archive_reason) == (
        ARCHIVED_AT,
        "ops@desk",
        "worse on batch 12",
    )
    assert pg.list_versions("iris") == store.list_versions("iris")
    assert pg.version_events("iris") == store.version_events("iris")
    assert [e.action for e in pg.version_events("iris")] == ["register", "register", "archive"]
    assert [row["version"] for row in run_json("versions", "iris", store_url=postgres_db, home=tmp_path)] == ["v1"]
    every = run_json("versions", "iris", "--all", store_url=postgres_db, home=tmp_path)
    assert [(row["version"], row["archived"]) for row in every] == [("v1", False), ("v2", True)]


def test_an_archive_postgres_refuses_waits_while_the_rest_is_copied(
    stores: tuple[RedisStore, PostgresStore], redis_url: str, postgres_db: str
) -> None:
    """While a plan changed in PostgreSQL directly serves a version archived on Redis, that archive waits and
    the sink goes on (records drained, another model's versions copied); once the plan there lets it go, the
    archive is copied."""
    store, pg = stores
    _register(store, "iris", "v1")
    _register(store, "iris", "v2")
    with running_sink(redis_url, postgres_db):
        wait_until(lambda: len(pg.list_versions("iris")) == 2, 30, "the versions")
        first = pg.get_plan("iris")
        assert first is not None
        canary = first.evolve(actor="analyst", reason="tried in PostgreSQL", canary=Canary(version="v2", weight=10))
        pg.save_plan(canary, before=first, action="canary")
        store.archive_version("iris", "v2", actor="ops", reason="old", at=ARCHIVED_AT)
        _register(store, "wine", "v1")
        store.append_predictions([make_record(i) for i in range(10)])
        wait_until(lambda: pg.list_models() == ["iris", "wine"] and pg_count(postgres_db) == 10, 30, "the rest")
        assert not pg.list_versions("iris")[1].archived
        pg.save_plan(canary.evolve(actor="analyst", reason="done", canary=None), before=canary, action="clear_canary")
        wait_until(lambda: pg.list_versions("iris")[1].archived, 30, "the archive, once the plan lets v2 go")
    assert pg.version_events("iris") == store.version_events("iris")


def test_two_sinks_a_restart_and_a_second_pass_write_nothing_twice(
    stores: tuple[RedisStore, PostgresStore], redis_url: str, postgres_db: str
) -> None:
    """Two sinks copying one catalog at once, then a restarted one and a fresh mirror's second pass: each version
    and each registry audit event is in PostgreSQL exactly once, in Redis' order."""
    store, pg = stores
    for i in range(1, 21):
        _register(store, "iris", f"v{i}")
    for i in range(2, 21, 3):
        store.archive_version("iris", f"v{i}", actor="ops", reason=f"old {i}", at=ARCHIVED_AT)
    events = store.version_events("iris")
    assert len(events) == 27
    with running_sink(redis_url, postgres_db, consumer="a"), running_sink(redis_url, postgres_db, consumer="b"):
        wait_until(lambda: len(pg.version_events("iris")) >= len(events), 30, "the registry audit")
    with running_sink(redis_url, postgres_db, consumer="a") as again:
        wait_until(lambda: again.sink.versions.read() == {}, 30, "the restarted sink's pass")
    fresh = VersionMirror(store, PostgresTarget(postgres_db, timeout_s=LOADED_TIMEOUT_S))
    for _ in range(2):
        copied = fresh.copy(fresh.read())
        assert (copied.registered, copied.archived, copied.waiting) == (0, 0, [])
    fresh.target.close()
    assert pg.version_events("iris") == events
    assert pg.list_versions("iris") == store.list_versions("iris")
    assert (_rows(postgres_db, "model_versions"), _rows(postgres_db, "version_events")) == (20, 27)

"""Retention on PostgreSQL: whole day partitions older than the limit go, with their outcomes; nothing younger."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from registry_client.domain.records import PredictionRecord
from registry_client.store.postgres import PostgresStore
from registry_client.store.postgres.retention import day_partitions
from tests.support.cli import canaryline
from tests.support.records import make_record
from tests.support.servers import LOADED_TIMEOUT_S as LOADED

pytestmark = pytest.mark.postgres

DAY = 86_400.0
NOW = datetime(2025, 12, 2, 12, 0, tzinfo=UTC).timestamp()


def at(when: str) -> float:
    return datetime.fromisoformat(when).replace(tzinfo=UTC).timestamp()


def record(i: int, ts: float, request_id: str | None = None) -> PredictionRecord:
    return replace(make_record(i, request_id=request_id), ts=ts)


@pytest.fixture
def pg(postgres_db: str):
    store = PostgresStore(postgres_db, timeout_s=LOADED)
    yield store
    store.close()


def days(store: PostgresStore) -> list[str]:
    with store._conn("test") as conn:
        return sorted(f"{day:%Y-%m-%d}" for day in day_partitions(conn).values())


def test_prune_drops_exactly_the_days_wholly_older_than_the_limit(pg: PostgresStore) -> None:
    """30 days back from 2025-12-02 12:00 is 2025-11-02 12:00: days up to 11-01 go; 11-02 stays whole."""
    pg.append_predictions(
        [
            record(1, at("2025-08-24T10:00"), "old"),
            record(2, at("2025-11-01T23:59:59"), "shared"),
            record(3, at("2025-11-02T01:00"), "straddling"),
            record(4, at("2025-12-01T09:00"), "shared"),
        ]
    )
    pg.put_outcome("old", [1], NOW, NOW)
    pg.put_outcome("shared", [1], NOW, NOW)
    pg.put_outcome("straddling", [1], NOW, NOW)
    pg.put_outcome("shared", [2], NOW, NOW, prediction_id="p2")
    pg.put_outcome("shared", [3], NOW, NOW, prediction_id="p4")

    pruned = pg.prune(30, now=NOW)

    assert pruned.partitions == ["predictions_20250824", "predictions_20251101"]
    assert (pruned.predictions, pruned.outcomes) == (2, 2)  # "old"'s outcome and the one naming p2
    assert days(pg) == ["2025-11-02", "2025-12-01"]
    assert [r.prediction_id for r in pg.iter_predictions()] == ["p3", "p4"]
    assert sorted(pg.get_outcomes(["old", "shared", "straddling"])) == ["shared", "straddling"]
    assert sorted(pg.get_prediction_outcomes(["p2", "p4"])) == ["p4"]


def test_a_dry_run_reports_and_drops_nothing(pg: PostgresStore) -> None:
    """--dry-run counts what would go and leaves every partition, record and outcome in place."""
    pg.append_predictions([record(1, at("2025-08-24T10:00"), "old"), record(2, at("2025-12-01T09:00"))])
    pg.put_outcome("old", [1], NOW, NOW)
    pruned = pg.prune(30, now=NOW, dry_run=True)
    assert (pruned.partitions, pruned.predictions, pruned.outcomes) == (["predictions_20250824"], 1, 1)
    assert days(pg) == ["2025-08-24", "2025-12-01"]
    assert pg.count_predictions() == 2 and "old" in pg.get_outcomes(["old"])


def test_a_gateway_that_knew_a_dropped_day_can_still_write_to_it(pg: PostgresStore, postgres_db: str) -> None:
    """Another store cached the partition that a prune dropped: its next write there recreates it."""
    other = PostgresStore(postgres_db, timeout_s=LOADED)
    try:
        other.append_predictions([record(1, at("2025-08-24T10:00"))])
        pg.prune(30, now=NOW)
        assert days(pg) == []
        other.append_predictions([record(2, at("2025-08-24T11:00"))])
        assert [r.prediction_id for r in pg.iter_predictions()] == ["p2"]
    finally:
        other.close()


def test_the_cli_prunes_with_days_and_refuses_without_a_limit(postgres_db: str, tmp_path: Path) -> None:
    """`canaryline retention --days 30` drops the 100-day-old partition only; without a limit it refuses."""
    now = time.time()
    store = PostgresStore(postgres_db, timeout_s=LOADED)
    try:
        store.append_predictions([record(1, now - 100 * DAY), record(2, now - DAY)])
    finally:
        store.close()
    refused = canaryline("retention", store_url=postgres_db, home=tmp_path)
    assert refused.returncode == 2 and "CANARYLINE_RETENTION_DAYS" in refused.stderr
    done = canaryline("retention", "--days", "30", "--json", store_url=postgres_db, home=tmp_path)
    assert done.returncode == 0, done.stderr
    report = orjson.loads(done.stdout)
    assert (report["predictions"], len(report["partitions"]), report["dry_run"]) == (1, 1, False)
    store = PostgresStore(postgres_db, timeout_s=LOADED)
    try:
        assert [r.prediction_id for r in store.iter_predictions()] == ["p2"]
    finally:
        store.close()


def test_the_cli_refuses_a_store_without_partitions(tmp_path: Path) -> None:
    """On the SQLite store, retention refuses in one line (exit 2) instead of pretending."""
    done = canaryline("retention", "--days", "30", store_url=f"sqlite:///{tmp_path / 's.db'}", home=tmp_path)
    assert done.returncode == 2 and "has none" in done.stderr


def test_writers_keep_writing_today_while_old_days_are_dropped(pg: PostgresStore, postgres_db: str) -> None:
    """A prune racing a writer of today's records drops the old days and loses none of today's."""
    now = time.time()
    pg.append_predictions([record(i, now - (40 + i % 5) * DAY, f"old{i}") for i in range(500)])
    for i in range(0, 500, 2):
        pg.put_outcome(f"old{i}", [1], now, now)
    writer_store = PostgresStore(postgres_db, timeout_s=LOADED)
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for b in range(30):
                writer_store.append_predictions([record(10_000 + b * 20 + i, now) for i in range(20)])
        except BaseException as exc:
            errors.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    pruned = pg.prune(30)
    writer.join()
    writer_store.close()
    assert not errors, errors
    assert (pruned.predictions, pruned.outcomes, len(pruned.partitions)) == (500, 250, 5)
    assert pg.count_predictions() == 600
    assert pg.get_outcomes([f"old{i}" for i in range(500)]) == {}

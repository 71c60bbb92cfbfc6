"""The README's SQL for analysts runs as written on a real PostgreSQL and gives the numbers it promises."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from registry_client.domain.plan import Canary, Plan
from registry_client.store.postgres import PostgresStore
from tests.support.records import make_record
from tests.support.servers import LOADED_TIMEOUT_S as LOADED

pytestmark = pytest.mark.postgres

README = Path(__file__).resolve().parents[2] / "README.md"
DAY1 = datetime(2025, 12, 1, tzinfo=UTC)
DAY2 = datetime(2025, 12, 2, tzinfo=UTC)


def readme_queries() -> list[str]:
    section = README.read_text().split("## PostgreSQL store", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sql\n(.*?)```", section, flags=re.S)


@pytest.fixture
def analyst(postgres_db: str):
    """A store with three plan revisions (the middle one ran canary v2), labelled records and an orders table;
    and a plain psycopg connection on it, as an analyst's psql session would be."""
    store = PostgresStore(postgres_db, timeout_s=LOADED)
    first = Plan.initial("iris", "v1")
    second = first.evolve(actor="a", reason="try v2", canary=Canary(version="v2", weight=10))
    third = second.evolve(actor="a", reason="stop", canary=None)
    for plan, before, action in ((first, None, "create"), (second, first, "canary"), (third, second, "clear_canary")):
        store.save_plan(plan, before=before, action=action)

    def rec(i: int, day: datetime, revision: int, version: str = "v1", route: str = "stable", **kw: object):
        base = make_record(i)
        return replace(
            base, ts=day.timestamp() + i, revision=revision, model_version=version, route=route, predictions=[1], **kw
        )

    records = [
        rec(1, DAY1, 1),
        rec(2, DAY1, 1),
        rec(3, DAY1, 1),
        rec(4, DAY1, 1),
        rec(5, DAY2, 2),
        rec(6, DAY2, 2),
        rec(7, DAY2, 2, "v2", "canary"),
        rec(8, DAY2, 2, "v2", "canary"),
        rec(9, DAY2, 3),
        replace(rec(50, DAY2, 2, "v2", "shadow"), request_id="r5", shadow=True, primary_id="p5"),
    ]
    store.append_predictions(records)
    for request_id, label in {"r1": 1, "r2": 1, "r3": 0, "r5": 1, "r6": 0, "r7": 1, "r8": 1, "r9": 1}.items():
        store.put_outcome(request_id, [label], DAY2.timestamp(), DAY2.timestamp())
    store.close()
    with psycopg.connect(postgres_db, autocommit=True) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        conn.execute("CREATE TABLE public.orders (order_id text PRIMARY KEY, amount numeric, refunded boolean)")
        with conn.cursor().copy("COPY public.orders FROM STDIN") as copy:
            for i in range(1, 10):
                copy.write_row((f"r{i}", Decimal(10 * i), i % 4 == 0))
        yield conn


def test_the_readme_has_the_three_queries() -> None:
    """The section shows per-version accuracy by day, canary vs stable, and a join to a business table."""
    queries = readme_queries()
    assert len(queries) == 3
    assert "date_trunc('day', ts)" in queries[0] and "plan_history" in queries[1] and "orders" in queries[2]


def test_accuracy_by_version_and_day(analyst: psycopg.Connection) -> None:
    """Rows, labelled rows and accuracy per version and day, primary traffic only (the shadow is left out)."""
    rows = analyst.execute(readme_queries()[0]).fetchall()
    assert [(v, d, n, k, round(float(a), 4)) for v, d, n, k, a in rows] == [
        ("v1", DAY1, 4, 3, round(2 / 3, 4)),
        ("v1", DAY2, 3, 3, round(2 / 3, 4)),
        ("v2", DAY2, 2, 2, 1.0),
    ]


def test_canary_vs_stable_on_the_canarys_revisions(analyst: psycopg.Connection) -> None:
    """Only revision 2 ran canary v2: its canary rows against the stable rows of that same revision."""
    rows = analyst.execute(readme_queries()[1]).fetchall()
    assert [(route, v, k, float(a)) for route, v, k, a in rows] == [("canary", "v2", 2, 1.0), ("stable", "v1", 2, 0.5)]


def test_predictions_joined_to_orders_by_request_id(analyst: psycopg.Connection) -> None:
    """Each version's orders, their amount and refund rate, through request_id = order_id."""
    rows = analyst.execute(readme_queries()[2]).fetchall()
    v1 = [1, 2, 3, 4, 5, 6, 9]
    v2 = [7, 8]
    assert [(v, n, a, round(float(r), 4)) for v, n, a, r in rows] == [
        ("v1", 7, Decimal(10 * sum(v1)), round(1 / 7, 4)),
        ("v2", 2, Decimal(10 * sum(v2)), 0.5),
    ]

"""Analysts on PostgreSQL: after a real release served on Redis and drained by the sink, `canaryline eval`
against PostgreSQL gives the report `canaryline eval` gives against the gateways' Redis."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from registry_client.store import Store, open_store
from tests.integration.test_eval_canary_episodes import EPISODES, RELEASE, REQUESTS_PER_REVISION, Released, released
from tests.support.cli import run_json
from tests.support.servers import wait_until
from tests.support.sink import pending, pg_count, pg_outcomes, running_sink

__all__ = ["released"]  # the release fixture, here over the Redis store
pytestmark = [pytest.mark.redis, pytest.mark.postgres]


@pytest.fixture
def store(redis_url: str, redis_client: redis.Redis) -> Iterator[Store]:
    """The gateways' store: Redis (flushed after the test)."""
    opened = open_store(redis_url)
    yield opened
    opened.close()


def _differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two JSON reports differ: numbers beyond 1e-9 (relative), anything else at all."""
    if isinstance(a, dict) and isinstance(b, dict):
        keys = sorted(set(a) | set(b))
        return [d for k in keys for d in _differences(a.get(k), b.get(k), f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in _differences(x, y, f"{path}[{i}]")]
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool):
        return [] if math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9) else [f"{path}: {a!r} != {b!r}"]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def test_eval_on_postgresql_after_the_sink_equals_eval_on_redis(
    released: Released, redis_url: str, redis_client: redis.Redis, postgres_db: str, tmp_path: Any
) -> None:
    """Records, outcomes and the plan history reach PostgreSQL; its report (aggregated in SQL) is Redis' report."""
    requests = REQUESTS_PER_REVISION * len(RELEASE)
    with running_sink(redis_url, postgres_db) as sink:
        wait_until(
            lambda: (
                pg_count(postgres_db) == released.store.count_predictions(released.model)
                and pending(redis_client, [released.model]) == 0
                and pg_outcomes(postgres_db) == requests  # posted before the sink ran: copied from their keys
            ),
            90,
            "every record and outcome in PostgreSQL",
        )
        wait_until(lambda: sink.sink.mirror.sync() is None, 30, "the plan history copied")
    on_redis = run_json("eval", released.model, store_url=redis_url, home=tmp_path)
    on_postgres = run_json("eval", released.model, store_url=postgres_db, home=tmp_path)
    comparisons = on_postgres["canary_vs_stable"]
    assert [(c["canary_version"], c["stable_version"], c["revisions"]) for c in comparisons] == EPISODES
    on_redis.pop("warnings", None)
    on_postgres.pop("warnings", None)
    assert _differences(on_postgres, on_redis) == []

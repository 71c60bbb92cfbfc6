"""``python -m load_tests.bench.timeline_scale [--rows N] [--postgres-url URL]``: the console's timeline
against the evaluation over the same N rows, in this process.

SQLite (always): both read every row through the joined view once (the model page asks for both every
30 s, answers kept 30 s). Traffic: 90 % stable v1, 10 % canary v2, one row per record, a shadow v3 record
for every 10th request, outcomes for 80 % of requests, one request every 0.5 s.

PostgreSQL (with ``--postgres-url``, a server's maintenance database): a throwaway database loaded by
``eval_scale``'s ``generate_series`` loader (the same traffic over one hour), then the timeline counted
in SQL (:mod:`registry_client.store.postgres.timeline`) against reading every row
(:func:`~registry_client.analysis.timeline.scan_cells`). These machines are shared: the load average is
printed with each figure.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from load_tests.bench import eval_scale
from load_tests.bench.eval_scale import load_postgres
from registry_client.analysis.aggregated import evaluate_store
from registry_client.analysis.timeline import scan_cells, timeline
from registry_client.domain.records import PredictionRecord
from registry_client.store import Store, open_store

T0 = 1_700_000_000.0
_BATCH = 5000


def _record(i: int, *, shadow: bool = False) -> PredictionRecord:
    canary = i % 10 == 0 and not shadow
    version = "v3" if shadow else "v2" if canary else "v1"
    return PredictionRecord(
        prediction_id=f"{'s' if shadow else 'p'}{i}",
        request_id=f"r{i}",
        ts=T0 + i * 0.5,
        model="m",
        model_version=version,
        route="canary" if canary else "stable",
        revision=1,
        inputs=[[1.0, 2.0]],
        predictions=[(i + shadow) % 3],
        latency_ms=1.0,
        instance="bench",
        shadow=shadow,
        primary_id=f"p{i}" if shadow else None,
    )


def load(store: Store, rows: int) -> None:
    """``rows`` primary records, a shadow of every 10th, outcomes for 4 in 5 requests."""
    batch: list[PredictionRecord] = []
    for i in range(rows):
        batch.append(_record(i))
        if i % 10 == 5:
            batch.append(_record(i, shadow=True))
        if len(batch) >= _BATCH:
            store.append_predictions(batch)
            batch = []
    store.append_predictions(batch)
    for i in range(rows):
        if i % 5:
            store.put_outcome(f"r{i}", [i % 3], T0, T0)


def postgres(admin_url: str, rows: int) -> None:
    """Time the timeline in SQL and row by row over ``rows`` records in a throwaway database."""
    database = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    url = admin_url.rsplit("/", 1)[0] + f"/{database}"
    try:
        store = open_store(url, timeout_s=30.0)
        store.ping()  # applies the schema
        load_postgres(url, "m", rows)
        now = eval_scale.T0 + 3600.0
        start = time.perf_counter()
        found = timeline(store, "m", task="classification", now=now, since=eval_scale.T0)
        middle = time.perf_counter()
        scan_cells(store, "m", task="classification", since=eval_scale.T0, until=None, bucket_s=found.bucket_s)
        end = time.perf_counter()
        store.close()
        print(
            f"postgres {rows:,} rows: timeline in SQL {middle - start:.2f} s ({len(found.starts)} buckets of "
            f"{found.bucket_s} s), row by row {end - middle:.2f} s; load average {os.getloadavg()[0]:.1f}"
        )
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--postgres-url", default=None, help="also PostgreSQL: a server's maintenance database")
    args = parser.parse_args()
    if args.postgres_url:
        postgres(args.postgres_url, args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{Path(tmp) / 'bench.db'}")
        load(store, args.rows)
        start = time.perf_counter()
        found = timeline(store, "m", task="classification", now=T0 + args.rows * 0.5, since=T0)
        middle = time.perf_counter()
        evaluate_store(store, "m", task="classification")
        end = time.perf_counter()
        store.close()
    print(
        f"{args.rows:,} rows: timeline {middle - start:.2f} s ({len(found.starts)} buckets of {found.bucket_s} s), "
        f"evaluation {end - middle:.2f} s; load average {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()

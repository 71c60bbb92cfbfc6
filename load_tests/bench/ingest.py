"""``python -m load_tests.bench.ingest [--seconds S] [--rounds N] [--batch B]``: records/s into each store.

One writer thread calls ``append_predictions`` with batches of ``--batch`` records (what one gateway
worker's log writer does under load: group commit), for ``--seconds`` per arm; arms interleaved per round,
each on a fresh store:

- ``sqlite``: the embedded store (WAL, synchronous=NORMAL) on a temporary file;
- ``postgres``: the PostgreSQL store as shipped: binary COPY into a staging table, then one INSERT of the
  ids not logged yet, guarded by ``prediction_ids`` (idempotent across day partitions);
- ``postgres_pk_only``: the same COPY, then ``INSERT … ON CONFLICT (ts, prediction_id) DO NOTHING`` straight
  into the partitioned table, no ``prediction_ids``: what the guard costs (idempotent only for a replay that
  carries the same ts, which the gateway's replays do).

PostgreSQL is ``--postgres-url`` (default: the local server, trust auth); each arm gets a fresh database,
dropped after. These machines are shared and noisy: only ratios within a round mean anything.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from registry_client.domain.records import PredictionRecord
from registry_client.store.postgres import PostgresStore
from registry_client.store.postgres import log as pglog
from registry_client.store.sqlite import SQLiteStore


def records(n: int, start: int) -> list[PredictionRecord]:
    now = time.time()
    return [
        PredictionRecord(
            prediction_id=str(uuid.uuid4()),
            request_id=f"req-{start + i}",
            ts=now,
            model="iris",
            model_version="v1" if i % 10 else "v2",
            route="stable" if i % 10 else "canary",
            revision=3,
            inputs=[[5.1, 3.5, 1.4, 0.2]],
            predictions=[i % 3],
            latency_ms=0.42,
            instance="bench:1",
            probabilities=[[0.8, 0.15, 0.05]],
            trace_id="ab" * 16,
        )
        for i in range(n)
    ]


def run(append: Callable[[list[PredictionRecord]], None], seconds: float, batch: int) -> float:
    """Records/s written by one thread for ``seconds`` (batches built before the clock starts)."""
    prepared = [records(batch, k * batch) for k in range(64)]
    append(prepared[0])  # warm up: connections, partitions, prepared statements
    written, k = 0, 1
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        append(prepared[k % len(prepared)] if k < len(prepared) else records(batch, k * batch))
        written += batch
        k += 1
    return written / (time.perf_counter() - started)


def fresh_database(url: str) -> str:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return url.rsplit("/", 1)[0] + f"/{name}"


def drop_database(admin_url: str, url: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def pk_only_writer(store: PostgresStore) -> Callable[[list[PredictionRecord]], None]:
    """The COPY path without the prediction_ids guard (on the store's own pool and partitions)."""
    cols = ", ".join(pglog.COLUMNS)

    def append(batch: list[PredictionRecord]) -> None:
        stamps = [datetime.fromtimestamp(r.ts, UTC) for r in batch]
        with store._conn("bench") as conn:
            store._partitions.ensure(conn, {s.date() for s in stamps})
            with conn.transaction(), conn.cursor() as cur:
                with cur.copy(f"COPY canaryline_staging (ord, {cols}) FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(["int4", *pglog._TYPES])
                    for i, (r, s) in enumerate(zip(batch, stamps, strict=True)):
                        copy.write_row(pglog.staging_row(i, r, s))
                cur.execute(
                    f"INSERT INTO canaryline.predictions ({cols}) SELECT {cols} FROM canaryline_staging "  # noqa: S608
                    "ORDER BY ord ON CONFLICT (ts, prediction_id) DO NOTHING"
                )

    return append


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    results: dict[str, list[float]] = {"sqlite": [], "postgres": [], "postgres_pk_only": []}
    for round_ in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            sqlite = SQLiteStore(f"sqlite:///{Path(tmp) / 'bench.db'}")
            results["sqlite"].append(run(sqlite.append_predictions, args.seconds, args.batch))
            sqlite.close()
        for arm in ("postgres", "postgres_pk_only"):
            url = fresh_database(args.postgres_url)
            store = PostgresStore(url, timeout_s=10.0)
            try:
                write = store.append_predictions if arm == "postgres" else pk_only_writer(store)
                results[arm].append(run(write, args.seconds, args.batch))
            finally:
                store.close()
                drop_database(args.postgres_url, url)
        line = ", ".join(f"{arm} {values[-1]:,.0f}/s" for arm, values in results.items())
        print(f"round {round_ + 1}: {line}")
    base = statistics.median(results["sqlite"])
    print(f"\nbatch {args.batch}, {args.seconds:g} s per arm, {args.rounds} rounds (median records/s; shared machine)")
    for arm, values in results.items():
        print(
            f"  {arm:18} {statistics.median(values):>10,.0f}   ratio to sqlite {statistics.median(values) / base:.2f}"
        )


if __name__ == "__main__":
    main()

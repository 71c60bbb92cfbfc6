"""``python -m load_tests.bench.sink_drain [--records N] [--batch B …] [--sinks K …] [--rounds R]``: drain rate.

For each batch size and sink count: a fresh Redis (our own ``redis-server``) preloaded with ``--records``
iris records (through the Redis store, 500 per call, as gateways write them) and a fresh PostgreSQL database
on ``--postgres-url``; then ``--sinks`` ``canaryline sink`` processes (one consumer group) are started and
timed from their ``sink.started`` lines until the group has nothing undelivered or pending. Reported:
records/s into PostgreSQL, the sinks' own CPU per record (``/proc``, their process trees), and the
PostgreSQL row count checked against N. Nothing is pinned; these machines are shared, so compare arms
within one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from load_tests.bench.ingest import drop_database, fresh_database, records
from load_tests.bench.sink_arm import backlog, sink_server
from load_tests.processes import Server, redis_server
from registry_client.store.redis import RedisStore


def drain(workdir: Path, postgres_admin: str, n: int, batch: int, sinks: int) -> dict[str, float]:
    redis = redis_server(workdir / f"redis-{batch}-{sinks}").start().wait_ready(30)
    source = redis.url + "/0"
    url = fresh_database(postgres_admin)
    started_sinks: list[Server] = []
    try:
        store = RedisStore(source, stream_maxlen=max(n, 1000) * 2)
        for start in range(0, n, 500):
            store.append_predictions(records(min(500, n - start), start))
        store.close()
        folder = workdir / f"sink-{batch}-{sinks}"
        for k in range(sinks):
            started_sinks.append(sink_server(folder, source, url, batch=batch, consumer=f"s{k}").start())
        for server in started_sinks:
            server.wait_ready(120)
        started, cpu0 = time.perf_counter(), sum(s.cpu_seconds() for s in started_sinks)
        while backlog(source):
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        cpu = sum(s.cpu_seconds() for s in started_sinks) - cpu0
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT count(*) FROM canaryline.predictions").fetchone()
        rows = int(row[0]) if row else 0
        return {"seconds": seconds, "records_per_s": n / seconds, "cpu_us": cpu / n * 1e6, "rows": rows}
    finally:
        for server in started_sinks:
            server.stop()
        redis.stop()
        drop_database(postgres_admin, url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch", type=int, nargs="+", default=[500, 2000, 5000])
    parser.add_argument("--sinks", type=int, nargs="+", default=[1])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    arms = [(batch, sinks) for batch in args.batch for sinks in args.sinks]
    results: dict[tuple[int, int], list[dict[str, float]]] = {arm: [] for arm in arms}
    with tempfile.TemporaryDirectory(prefix="canaryline-sink-drain-") as tmp:
        for round_ in range(args.rounds):
            for batch, sinks in arms:
                figures = drain(Path(tmp), args.postgres_url, args.records, batch, sinks)
                results[batch, sinks].append(figures)
                print(
                    f"round {round_ + 1} batch {batch} x {sinks} sink(s): {figures['records_per_s']:,.0f} records/s, "
                    f"{figures['cpu_us']:.0f} µs sink CPU/record, {figures['rows']:,} rows "
                    f"(load average {os.getloadavg()[0]:.1f})",
                    file=sys.stderr,
                    flush=True,
                )
    print(f"\n{args.records:,} records, {args.rounds} round(s), medians (shared machine)")
    for (batch, sinks), runs in results.items():
        rate = statistics.median(r["records_per_s"] for r in runs)
        cpu = statistics.median(r["cpu_us"] for r in runs)
        ok = all(r["rows"] == args.records for r in runs)
        print(
            f"  batch {batch:>6} x {sinks} sink(s): {rate:>10,.0f} records/s  {cpu:>6.0f} µs sink CPU/record  "
            f"rows {'ok' if ok else 'WRONG'}"
        )


if __name__ == "__main__":
    main()

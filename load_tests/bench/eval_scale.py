"""``python -m load_tests.bench.eval_scale [--rows N] [--stores postgres,sqlite]``: ``canaryline eval`` over N rows.

For each store, N prediction records of one iris model are bulk-loaded (not through the gateway), then
``canaryline eval MODEL --json`` runs as a child process, timed by wall clock, its peak RSS read from
``os.wait4``'s rusage (``ru_maxrss``: the CLI's own peak, not the database server's). The CLI is started by
a small measuring process of its own, not by this one: a child forked from a process that has imported
scikit-learn and BentoML (to register the models) starts with that process's pages, and ``ru_maxrss``
counted them (about 95 MB, which earlier figures wrongly charged to the CLI):

- ``postgres``: one ``INSERT … SELECT … FROM generate_series`` into ``canaryline.predictions`` (and its
  ``prediction_ids``), outcomes likewise, then ``VACUUM ANALYZE`` (what autovacuum does to a table that
  stops changing); eval computes its aggregates in SQL (:mod:`registry_client.store.postgres.evaluation`);
- ``sqlite``: the embedded store's own ``append_predictions`` in batches of 10,000, outcomes by
  ``executemany``; eval reads every row through the joined view.

Traffic: 90 % stable v1, 10 % canary v2 (revision 2 of the plan, so there is one canary episode), one row
per record, a shadow v3 record for every 10th request, outcomes for 80 % of requests (some wrong).
Each model is registered in a throwaway BentoML home (the CLI reads its task from the registry).
The goal (issue 12) is 10 million rows in ≤ 20 s and ≤ 200 MB, flat in N. These machines are shared: the
load average is printed with each figure, and only the two stores side by side in one run compare.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import psycopg

CANARYLINE = Path(sys.executable).with_name("canaryline")
MODEL = "iris"  # plus the store's name: one BentoML home serves the whole run (BentoML reads it once)
T0 = time.time() - 3600.0  # the records span the last hour (one or two day partitions)


def _register(model: str, store_url: str) -> None:
    """Register v1, v2 and v3 of an iris classifier and canary v2 at 10 %: the plan and its history."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from registry_client.control import ControlPlane
    from registry_client.registry.registry import Registry
    from registry_client.store import open_store

    X, y = load_iris(return_X_y=True)
    store = open_store(store_url, timeout_s=30.0)
    registry = Registry(store)
    for c in (1.0, 0.5, 0.1):
        registry.register(model, LogisticRegression(C=c, max_iter=500).fit(X, y))
    ControlPlane(registry).set_canary(
        model, "v2", weight=10, sticky=False, actor="bench", reason="bench", expected_revision=None
    )
    store.close()


_PG_PREDICTIONS = """
INSERT INTO canaryline.predictions (prediction_id, request_id, ts, model, model_version, route, revision, shadow,
                                    primary_id, inputs, predictions, probabilities, latency_ms, instance)
SELECT CASE WHEN s THEN 's' ELSE 'p' END || g, 'r' || g, to_timestamp(%(t0)s + g * %(step)s), %(model)s,
       CASE WHEN s THEN 'v3' WHEN g %% 10 = 0 THEN 'v2' ELSE 'v1' END,
       CASE WHEN s THEN 'shadow' WHEN g %% 10 = 0 THEN 'canary' ELSE 'stable' END, 2, s,
       CASE WHEN s THEN 'p' || g END, '[[5.1, 3.5, 1.4, 0.2]]'::jsonb,
       jsonb_build_array(CASE WHEN s THEN (g + 1) %% 3 ELSE g %% 3 END), '[[0.8, 0.15, 0.05]]'::jsonb,
       0.3 + (g %% 97) / 50.0, 'bench:1'
FROM generate_series(1, %(n)s) AS g CROSS JOIN LATERAL (VALUES (false), (true)) AS k (s)
WHERE NOT s OR g %% 10 = 5
"""
_PG_OUTCOMES = """
INSERT INTO canaryline.outcomes (request_id, outcome, observed_at, received_at)
SELECT 'r' || g, jsonb_build_array(CASE WHEN g %% 7 = 0 THEN (g + 2) %% 3 ELSE g %% 3 END), now(), now()
FROM generate_series(1, %(n)s) AS g WHERE g %% 5 <> 0
"""


def load_postgres(url: str, model: str, n: int) -> None:
    from registry_client.store.postgres import log as pglog

    step = 3600.0 / n
    with psycopg.connect(url, autocommit=True) as conn:
        first, last = datetime.fromtimestamp(T0, UTC), datetime.fromtimestamp(T0 + 3600.0, UTC)
        pglog.Partitions().ensure(conn, {first.date(), last.date(), (first + timedelta(hours=1)).date()})
        params = {"t0": T0, "step": step, "model": model, "n": n}
        conn.execute(_PG_PREDICTIONS, params)
        conn.execute(
            "INSERT INTO canaryline.prediction_ids (prediction_id, ts) "
            "SELECT prediction_id, ts FROM canaryline.predictions"
        )
        conn.execute(_PG_OUTCOMES, params)
        conn.execute("VACUUM ANALYZE")


def load_sqlite(url: str, model: str, n: int) -> None:
    from registry_client.domain.records import PredictionRecord
    from registry_client.store.sqlite import SQLiteStore

    store = SQLiteStore(url)
    step = 3600.0 / n
    batch: list[PredictionRecord] = []
    for g in range(1, n + 1):
        canary = g % 10 == 0
        base = {
            "request_id": f"r{g}",
            "ts": T0 + g * step,
            "model": model,
            "revision": 2,
            "inputs": [[5.1, 3.5, 1.4, 0.2]],
            "probabilities": [[0.8, 0.15, 0.05]],
            "latency_ms": 0.3 + (g % 97) / 50.0,
            "instance": "bench:1",
        }
        batch.append(
            PredictionRecord(
                prediction_id=f"p{g}",
                model_version="v2" if canary else "v1",
                route="canary" if canary else "stable",
                predictions=[g % 3],
                **base,
            )
        )
        if g % 10 == 5:
            batch.append(
                PredictionRecord(
                    prediction_id=f"s{g}",
                    model_version="v3",
                    route="shadow",
                    predictions=[(g + 1) % 3],
                    shadow=True,
                    primary_id=f"p{g}",
                    **base,
                )
            )
        if len(batch) >= 10_000 or g == n:
            store.append_predictions(batch)
            batch = []
    now = time.time()
    rows = ((f"r{g}", orjson.dumps([(g + 2) % 3 if g % 7 == 0 else g % 3]), now, now) for g in range(1, n + 1) if g % 5)
    conn = store._conn()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT INTO outcomes (request_id, body, observed_at, received_at) VALUES (?, ?, ?, ?)", rows)
    conn.execute("COMMIT")
    store.close()


#: Run by a fresh interpreter that imports nothing else: starts argv[2:] with stdout to the file argv[1],
#: waits for it, and prints its exit code, wall seconds and ru_maxrss (kB) as JSON.
_MEASURE = """
import json, os, subprocess, sys, time
with open(sys.argv[1], "wb") as out:
    started = time.perf_counter()
    child = subprocess.Popen(sys.argv[2:], stdout=out, stderr=subprocess.PIPE)
    err = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
print(json.dumps({"code": os.waitstatus_to_exitcode(status), "wall": time.perf_counter() - started,
                  "maxrss_kb": usage.ru_maxrss, "stderr": err.decode(errors="replace")[-2000:]}))
"""


def time_eval(store_url: str, model: str, home: Path, *extra: str) -> tuple[float, float, int]:
    """Wall seconds, peak RSS (MB) and the row count of one ``canaryline eval MODEL --json`` child."""
    env = {
        **os.environ,
        "CANARYLINE_STORE": store_url,
        "CANARYLINE_HOME": str(home),
        "CANARYLINE_STORE_TIMEOUT_S": "30",
    }
    report_file = home / "eval.json"
    measured = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(report_file), str(CANARYLINE), "eval", model, "--json", *extra],
        env=env,
        capture_output=True,
        check=True,
    )
    result = orjson.loads(measured.stdout)
    if result["code"] != 0:
        raise SystemExit(f"eval on {store_url} failed ({result['code']}): {result['stderr']}")
    report = orjson.loads(report_file.read_bytes())
    rows = sum(group["rows"] for group in report["groups"])
    return float(result["wall"]), result["maxrss_kb"] / 1024, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="primary records (one row each) [200,000: quick]")
    parser.add_argument("--stores", default="postgres,sqlite")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    print(f"canaryline eval over {args.rows:,} primary rows (+10 % shadow rows); load average {os.getloadavg()}")
    bentoml_home = tempfile.TemporaryDirectory()
    os.environ["BENTOML_HOME"] = bentoml_home.name
    for name in args.stores.split(","):
        model = f"{MODEL}_{name}"
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp)
            database = None
            if name == "postgres":
                database = f"bench_{uuid.uuid4().hex[:10]}"
                with psycopg.connect(args.postgres_url, autocommit=True) as admin:
                    admin.execute(f'CREATE DATABASE "{database}"')
                url = args.postgres_url.rsplit("/", 1)[0] + f"/{database}"
            else:
                url = f"sqlite:///{home / 'store.db'}"
            try:
                _register(model, url)
                started = time.perf_counter()
                (load_postgres if name == "postgres" else load_sqlite)(url, model, args.rows)
                loaded = time.perf_counter() - started
                # the CLI's own floor (imports, registry, plan history): the same eval over an empty window
                floor_wall, floor_rss, _ = time_eval(url, model, home, "--since", str(time.time() + 3600))
                wall, rss, rows = time_eval(url, model, home)
                print(
                    f"  {name:8} empty window (the CLI's floor): {floor_wall:6.2f} s wall, "
                    f"peak RSS {floor_rss:6.0f} MB",
                    flush=True,
                )
                print(
                    f"  {name:8} loaded in {loaded:6.1f} s; eval {wall:6.2f} s wall, peak RSS {rss:6.0f} MB, "
                    f"{rows:,} rows evaluated; load average {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
            finally:
                if database is not None:
                    with psycopg.connect(args.postgres_url, autocommit=True) as admin:
                        admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    bentoml_home.cleanup()


if __name__ == "__main__":
    main()

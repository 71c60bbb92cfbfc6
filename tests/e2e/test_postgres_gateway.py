"""Real gateways on a real PostgreSQL: refusing bad store settings in one line, and an outage mid-load."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from registry_client.registry.registry import Registry
from registry_client.store import open_store
from registry_client.store.postgres import prepare_database
from tests.support.load import Load
from tests.support.servers import PostgresServer, free_port
from tests.support.tokens import TOKEN_ENV

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


@pytest.fixture
def pg_server(postgres_url: str) -> Iterator[PostgresServer]:
    """A PostgreSQL cluster of this test's own, which the test may stop, crash and start; durable (fsync and
    synchronous commit on), since a crash of the suite's fast clusters loses commits they acknowledged."""
    server = PostgresServer(fast=False).start()
    yield server
    server.stop("immediate")
    server.remove()


def serve_refusal(store_url: str, home: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    """Run `canaryline serve` on ``store_url`` (``extra``: more environment); it must exit by itself within 60 s."""
    env = {**os.environ, "CANARYLINE_HOME": str(home), "CANARYLINE_STORE": store_url, **TOKEN_ENV, **extra}
    canaryline = Path(sys.executable).with_name("canaryline")
    serve = subprocess.Popen(
        [str(canaryline), "serve", "--port", str(free_port())],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = serve.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(serve.pid, signal.SIGKILL)
        serve.communicate()
        pytest.fail("canaryline serve did not refuse the store: it was still running after 60 s")
    return subprocess.CompletedProcess(serve.args, serve.returncode, stdout, stderr)


def with_password(server: PostgresServer) -> str:
    """Make the server ask for passwords over TCP; the URL of a login with the right one."""
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute("ALTER ROLE postgres PASSWORD 'right-password'")
    (server.data / "pg_hba.conf").write_text(
        "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\nhost all all ::1/128 scram-sha-256\n"
    )
    server.stop()  # a restart rereads pg_hba.conf
    server.start()
    return server.url.replace("postgres@", "postgres:right-password@")


@pytest.mark.parametrize("fault", ["wrong-port", "missing-database", "wrong-password", "newer-schema"])
def test_serve_refuses_an_unusable_postgres_store_with_one_clear_line(
    pg_server: PostgresServer, tmp_path: Path, fault: str
) -> None:
    """Wrong port, missing database, wrong password or a too-new schema: exit 2 with one line naming it."""
    base = pg_server.url
    if fault == "wrong-port":
        url, expected = base.replace(f":{pg_server.port}/", f":{free_port()}/"), "Connection refused"
    elif fault == "missing-database":
        url, expected = base.rsplit("/", 1)[0] + "/no_such_db", 'database "no_such_db" does not exist'
    elif fault == "wrong-password":
        url = with_password(pg_server).replace("right-password", "wrong-password")
        expected = 'password authentication failed for user "postgres"'
    else:
        prepare_database(base, 5.0)
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute("INSERT INTO canaryline.schema_version (version, name) VALUES (99, 'from_the_future')")
        url, expected = base, "at version 99, newer than this canaryline"
    done = serve_refusal(url, tmp_path / "home")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("error: refusing to start: ") and expected in lines[0], lines
    assert "password@" not in lines[0]


@pytest.mark.redis
def test_serve_refuses_an_unusable_history_database_naming_the_variable(
    pg_server: PostgresServer, redis_url: str, tmp_path: Path
) -> None:
    """A gateway on Redis whose CANARYLINE_HISTORY_DSN (the sink's PostgreSQL) is down: exit 2, one line naming it."""
    down = pg_server.url.replace(f":{pg_server.port}/", f":{free_port()}/")
    done = serve_refusal(redis_url, tmp_path / "home", CANARYLINE_HISTORY_DSN=down)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr[-2000:]
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: refusing to start (CANARYLINE_HISTORY_DSN): "), lines
    assert "Connection refused" in lines[0]


def test_postgres_crash_mid_load_loses_nothing_and_duplicates_nothing(
    gateway_factory, pg_server: PostgresServer, model_name: str, iris_models
) -> None:
    """PostgreSQL crashed (`pg_ctl stop -m immediate`) for 3 s under load on 2 workers: every request is a 200,
    the spool takes over, and afterwards there is exactly one row per 200."""
    url = pg_server.url
    Registry(open_store(url)).register(model_name, iris_models["logreg"])
    gateway = gateway_factory(url, workers=2)
    with Load(gateway.url, model_name) as load:
        time.sleep(1.5)
        pg_server.stop("immediate")
        stopped = time.monotonic()
        time.sleep(3)
        restarted = time.monotonic()
        pg_server.start()
        time.sleep(1.5)
    assert load.served_between(stopped, restarted) > 0, "nothing was answered while PostgreSQL was down"
    assert not load.failures, load.failures[:3]
    statuses = {r.status_code for r in load.responses}
    assert statuses == {200}, [r.text for r in load.responses if r.status_code != 200][:3]
    served = {r.json()["prediction_id"] for r in load.responses}
    store = open_store(url)
    try:
        deadline = time.monotonic() + 60
        while store.count_predictions(model_name) < len(served) and time.monotonic() < deadline:
            time.sleep(0.2)
        logged = [r.prediction_id for r in store.iter_predictions(model_name)]
    finally:
        store.close()
    assert len(logged) == len(set(logged)) and set(logged) == served
    assert '"event": "store_unreachable_spooling"' in gateway.log()

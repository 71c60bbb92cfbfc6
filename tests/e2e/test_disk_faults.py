"""Disk faults under a real gateway: CANARYLINE_HOME on a 256 KiB tmpfs that fills up or is read-only.

Redis is a real redis-server of the test's own, stopped to push every record into the spool. Each test
mounts its own tmpfs (the machine runs the tests as root; under CI=true a mount that fails fails the test).
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from registry_client.registry.registry import Registry
from registry_client.store import open_store
from tests.support.filesystems import fill, remount, small_tmpfs
from tests.support.load import ROW, Load
from tests.support.servers import GatewayProcess, RedisServer, free_port, wait_until
from tests.support.tokens import TOKEN_ENV

pytestmark = [pytest.mark.e2e, pytest.mark.redis]
#: Longer than any answer may take: a gateway whose log writer died leaves requests waiting for ever.
HANG_S = 15
#: How long SIGTERM may take to stop a gateway whose store and spool both fail.
STOP_S = 25


@pytest.fixture
def redis_server(tmp_path: Path, redis_url: str) -> Iterator[RedisServer]:
    """A persistent redis-server of this test's own, which the test stops and starts."""
    server = RedisServer(tmp_path / "redis", persistent=True).start()
    yield server
    server.stop()


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """CANARYLINE_HOME on a 256 KiB tmpfs."""
    with small_tmpfs(tmp_path / "home") as mounted:
        yield mounted


def sigterm(gateway: GatewayProcess, within: float) -> float:
    """SIGTERM the gateway's process group; the seconds it took to exit (fails past ``within``)."""
    assert gateway.proc is not None
    started = time.monotonic()
    os.killpg(gateway.proc.pid, signal.SIGTERM)
    try:
        gateway.proc.wait(within)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the gateway ignored SIGTERM for {within} s; its log:\n{gateway.log()[-3000:]}")
    gateway.proc = None
    return time.monotonic() - started


def assert_whole_lines(folder: Path) -> None:
    for path in folder.glob("spool-*.jsonl"):
        data = path.read_bytes()
        assert not data or data.endswith(b"\n"), f"{path.name} ends in a torn line: {data[-80:]!r}"
        for line in data.splitlines():
            orjson.loads(line)


def test_a_full_disk_answers_503_recovers_when_redis_returns_and_stops_on_sigterm(
    gateway_factory, redis_server: RedisServer, home: Path, model_name: str, iris_models
) -> None:
    """ENOSPC with Redis down: 503 with Retry-After (never a hang), /readyz and /metrics say why; Redis back:
    the spool drains, the gateway serves again, every 200 has its record; SIGTERM stops it; no torn line."""
    Registry(open_store(redis_server.url)).register(model_name, iris_models["logreg"])
    gateway = gateway_factory(redis_server.url, home=str(home))
    redis_server.stop()
    responses: list[httpx.Response] = []
    with httpx.Client(base_url=gateway.url, timeout=HANG_S) as client:
        while sum(r.status_code == 503 for r in responses) < 20 and len(responses) < 5000:
            responses.append(client.post("/predict", json={"model": model_name, "inputs": [ROW]}))
        refused = [r for r in responses if r.status_code != 200]
        assert refused and {r.status_code for r in refused} == {503}
        assert all(r.json()["error"]["code"] == "log_unavailable" for r in refused)
        assert all(r.headers["retry-after"] == "1" for r in refused)
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["log"]["spool_available"] is False and "ENOSPC" in ready.json()["log"]["spool_error"]
        metrics = client.get("/metrics").text
        assert "canaryline_log_spool_available 0.0" in metrics
        assert 'canaryline_log_spool_errors_total{error="ENOSPC"}' in metrics
        assert_whole_lines(home / "spool")

        redis_server.start()
        wait_until(lambda: client.get("/readyz").status_code == 200, 20, "the gateway to be ready again")
        responses += [client.post("/predict", json={"model": model_name, "inputs": [ROW]}) for _ in range(10)]
        assert [r.status_code for r in responses[-10:]] == [200] * 10
    served = {r.json()["prediction_id"] for r in responses if r.status_code == 200}
    store = open_store(redis_server.url)
    wait_until(lambda: store.count_predictions(model_name) >= len(served), 20, "every record to land")
    assert {r.prediction_id for r in store.iter_predictions(model_name)} == served
    sigterm(gateway, STOP_S)
    assert_whole_lines(home / "spool")


def test_sigterm_stops_a_gateway_whose_store_is_down_and_disk_full_mid_load(
    gateway_factory, redis_server: RedisServer, home: Path, model_name: str, iris_models
) -> None:
    """Redis stopped and the disk full under concurrent load: every request is answered (200 or 503, none
    hangs), and SIGTERM stops the gateway within its deadline, flushing what it can."""
    Registry(open_store(redis_server.url)).register(model_name, iris_models["logreg"])
    gateway = gateway_factory(redis_server.url, home=str(home))
    redis_server.stop()
    fill(home)
    with Load(gateway.url, model_name, concurrency=16, timeout=HANG_S) as load:
        with contextlib.suppress(TimeoutError):  # mid-load, whatever the gateway managed to answer by then
            wait_until(lambda: load.sent >= 200, 5, "requests to be sent", 0.05)
        sigterm(gateway, STOP_S)
    assert {r.status_code for r in load.responses} <= {200, 503}
    assert all(r.headers.get("retry-after") == "1" for r in load.responses if r.status_code == 503)
    assert not [f for f in load.failures if isinstance(f, httpx.TimeoutException)], "a request hung"


@pytest.mark.parametrize("fault", ["read-only", "full"])
def test_serve_refuses_an_unwritable_spool_with_one_clear_line(
    home: Path, redis_url: str, fault: str, tmp_path: Path
) -> None:
    """`canaryline serve` with the spool on a read-only or full disk exits 2 before BentoML starts, with one
    line naming the spool folder and the errno."""
    if fault == "read-only":
        remount(home, "ro")
    else:
        fill(home)
    env = {
        **os.environ,
        "CANARYLINE_HOME": str(home),
        "CANARYLINE_STORE": redis_url,
        **TOKEN_ENV,
    }
    canaryline = Path(sys.executable).with_name("canaryline")
    serve = subprocess.Popen(
        [str(canaryline), "serve", "--port", str(free_port())],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # if it started BentoML after all, its workers go down with it
    )
    try:
        _, stderr = serve.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(serve.pid, signal.SIGKILL)
        serve.communicate()
        pytest.fail("canaryline serve did not refuse the unwritable spool: it was still running after 60 s")
    expected = errno.errorcode[errno.EROFS if fault == "read-only" else errno.ENOSPC]
    lines = stderr.strip().splitlines()
    assert serve.returncode == 2, stderr[-2000:]
    assert len(lines) == 1 and str(home / "spool") in lines[0] and expected in lines[0], stderr


def test_a_bentoml_worker_with_a_read_only_spool_reports_not_ready_and_recovers(
    home: Path, redis_url: str, tmp_path: Path, model_name: str, iris_models
) -> None:
    """Raw `bentoml serve` with the spool on a read-only mount: the worker starts once (no crash loop), logs one
    clear error, /readyz says not ready and why; once the disk is writable again it becomes ready by itself."""
    Registry(open_store(redis_url)).register(model_name, iris_models["logreg"])
    remount(home, "ro")
    port = free_port()
    logfile = tmp_path / "bentoml.log"
    env = {
        **os.environ,
        "CANARYLINE_HOME": str(home),
        "CANARYLINE_STORE": redis_url,
        **TOKEN_ENV,
    }
    argv = [sys.executable, "-m", "bentoml", "serve", "service.service:Canaryline", "--port", str(port)]
    with logfile.open("ab") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def readyz() -> httpx.Response | None:
        assert proc.poll() is None, f"bentoml serve exited; its log:\n{logfile.read_text()[-3000:]}"
        try:
            return httpx.get(url + "/readyz", timeout=2)
        except httpx.HTTPError:
            return None

    def detailed() -> bool:  # our /readyz detail, not BentoML's own answer while the worker starts
        answer = readyz()
        return answer is not None and answer.headers.get("content-type") == "application/json"

    try:
        wait_until(detailed, 60, "the worker to start")
        ready = readyz()
        assert ready is not None and ready.status_code == 503
        assert "EROFS" in ready.json()["log"]["spool_error"]
        log = logfile.read_text()
        assert log.count('"event": "spool_unavailable"') == 1 and log.count('"event": "gateway_started"') == 1
        remount(home, "rw")
        wait_until(lambda: (answer := readyz()) is not None and answer.status_code == 200, 20, "the worker to be ready")
        answer = httpx.post(url + "/predict", json={"model": model_name, "inputs": [ROW]}, timeout=HANG_S)
        assert answer.status_code == 200
        assert logfile.read_text().count('"event": "gateway_started"') == 1
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(STOP_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)

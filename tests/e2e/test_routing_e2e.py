"""Routing on real gateway processes: canary share, sticky keys, pinning, shadow, hot swap, replicas."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import httpx
import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from registry_client.client.gateway import GatewayClient
from registry_client.registry.registry import Registry
from registry_client.store import open_store
from tests.support.servers import GatewayProcess
from tests.support.tokens import ADMIN_TOKEN, READ_TOKEN, TOKEN_ENV

pytestmark = pytest.mark.e2e
ROW = [5.1, 3.5, 1.4, 0.2]
NEGATIVE_ROW = [-5.1, -3.5, -1.4, -0.2]  # no flower measures that, but the linear models still answer


@pytest.fixture
def admin() -> Iterator[Callable[[GatewayProcess], GatewayClient]]:
    """Admin clients for gateways, each closed when the test ends."""
    clients: list[GatewayClient] = []

    def client_for(gateway: GatewayProcess) -> GatewayClient:
        clients.append(GatewayClient(gateway.url, token=ADMIN_TOKEN, actor="tests"))
        return clients[-1]

    yield client_for
    for client in clients:
        client.close()


async def fire(
    url: str, payloads: list[dict], concurrency: int = 16, headers: dict | None = None
) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30, headers=headers) as client:
        gate = asyncio.Semaphore(concurrency)

        async def one(payload: dict) -> httpx.Response:
            async with gate:
                return await client.post("/predict", json=payload)

        return await asyncio.gather(*(one(p) for p in payloads))


@pytest.fixture
def three_versions(sqlite_url: str, model_name: str, iris_models) -> str:
    registry = Registry(open_store(sqlite_url))
    for key in ("logreg", "logreg_c01", "tree"):
        registry.register(model_name, iris_models[key])
    return model_name


def test_canary_share_and_sticky_keys(admin, gateway_factory, sqlite_url: str, three_versions: str) -> None:
    """Unkeyed canary share is within 4 sigma of the weight; keys stay put; raising the weight only adds keys."""
    model = three_versions
    gateway = gateway_factory(sqlite_url)
    admin(gateway).set_canary(model, "v2", weight=20, reason="canary v2")
    n = 3000
    unkeyed = asyncio.run(fire(gateway.url, [{"inputs": [ROW]}] * n))
    assert all(r.status_code == 200 for r in unkeyed)
    canary = sum(r.json()["route"] == "canary" for r in unkeyed)
    assert {r.json()["revision"] for r in unkeyed} == {2}
    assert abs(canary - 0.2 * n) < 4 * (n * 0.2 * 0.8) ** 0.5, canary

    keys = [f"user-{i}" for i in range(300)]
    first = asyncio.run(fire(gateway.url, [{"inputs": [ROW], "routing_key": k} for k in keys]))
    again = asyncio.run(fire(gateway.url, [{"inputs": [ROW], "routing_key": k} for k in keys]))
    before = {k: r.json()["model_version"] for k, r in zip(keys, first, strict=True)}
    assert before == {k: r.json()["model_version"] for k, r in zip(keys, again, strict=True)}
    assert 0 < sum(v == "v2" for v in before.values()) < len(keys)

    admin(gateway).set_canary(model, "v2", weight=60, reason="widen")
    after = asyncio.run(fire(gateway.url, [{"inputs": [ROW], "routing_key": k} for k in keys]))
    after_versions = {k: r.json()["model_version"] for k, r in zip(keys, after, strict=True)}
    assert all(after_versions[k] == "v2" for k, v in before.items() if v == "v2")
    assert sum(v == "v2" for v in after_versions.values()) > sum(v == "v2" for v in before.values())


def _served_version(http: httpx.Client, model: str, protocol: str, key: str, *, by_header: bool) -> str:
    """The version one protocol answers with for ``key``, sent as X-Routing-Key or in the body."""
    headers = {"X-Routing-Key": key} if by_header else {}
    if protocol == "native":
        body: dict = {"inputs": [ROW]} if by_header else {"inputs": [ROW], "routing_key": key}
        response = http.post("/predict", json=body, headers=headers)
    elif protocol == "v2":
        body = {"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": [ROW]}]}
        if not by_header:
            body["parameters"] = {"routing_key": key}
        response = http.post(f"/v2/models/{model}/infer", json=body, headers=headers)
    else:
        body = {"instances": [ROW]} if by_header else {"instances": [ROW], "routing_key": key}
        response = http.post(f"/v1/models/{model}:predict", json=body, headers=headers)
    assert response.status_code == 200, (protocol, response.text)
    return response.headers["x-model-version"]


def test_a_routing_key_keeps_its_version_by_header_or_body_on_every_protocol(
    admin, gateway_factory, sqlite_url: str, three_versions: str
) -> None:
    """With a sticky 50% canary, a key sent as X-Routing-Key or in the body gets one version on every protocol."""
    model = three_versions
    gateway = gateway_factory(sqlite_url)
    admin(gateway).set_canary(model, "v2", weight=50, reason="sticky canary")
    keys = [f"user-{i}" for i in range(60)]
    seen: dict[str, set[str]] = {key: set() for key in keys}
    with httpx.Client(base_url=gateway.url, timeout=30) as http:
        for protocol in ("native", "v2", "kserve"):
            for by_header in (True, False):
                for key in keys:
                    seen[key].add(_served_version(http, model, protocol, key, by_header=by_header))
    switched = sorted(key for key, versions in seen.items() if len(versions) > 1)
    assert switched == [], f"{len(switched)} of {len(keys)} keys switched version: {switched}"
    assert {version for versions in seen.values() for version in versions} == {"v1", "v2"}


def test_pinning_by_header_and_body(admin, gateway_factory, sqlite_url: str, three_versions: str) -> None:
    """A pinned version in the plan is served with route 'pinned'; any other is a 404 listing what is served."""
    model = three_versions
    gateway = gateway_factory(sqlite_url)
    admin(gateway).set_shadow(model, "v3", sample=100, reason="shadow v3")
    by_header = httpx.post(gateway.url + "/predict", json={"inputs": [ROW]}, headers={"X-Model-Version": "v3"})
    by_body = httpx.post(gateway.url + "/predict", json={"inputs": [ROW], "version": "v1"})
    assert (by_header.json()["model_version"], by_header.json()["route"]) == ("v3", "pinned")
    assert by_header.headers["x-model-version"] == "v3"
    assert (by_body.json()["model_version"], by_body.json()["route"]) == ("v1", "pinned")
    refused = httpx.post(gateway.url + "/predict", json={"inputs": [ROW]}, headers={"X-Model-Version": "v2"})
    assert refused.status_code == 404
    assert "versions being served: v1, v3" in refused.json()["error"]["message"]


def wait_for_shadow(client: GatewayClient, model: str, version: str, offered: int, timeout: float = 60) -> dict:
    """Shadow counters once every one of ``offered`` mirrored requests has run, failed or been dropped."""
    deadline = time.monotonic() + timeout
    while True:
        stats = client.model(model)["shadow"].get(version, {})
        done = stats.get("runs", 0) + stats.get("errors", 0) + stats.get("dropped", 0)
        if done >= offered or time.monotonic() > deadline:
            assert done == offered, stats
            return stats
        time.sleep(0.1)


def wait_for_shadow_ready(client: GatewayClient, model: str, version: str, timeout: float = 60) -> None:
    """Until the shadow process has loaded ``version`` (so the first mirrored request does not load it)."""
    deadline = time.monotonic() + timeout
    while not client.model(model)["shadow"].get(version, {}).get("ready"):
        assert time.monotonic() < deadline, f"shadow {version} never became ready"
        time.sleep(0.1)


def _sequential_latencies(url: str, n: int) -> list[float]:
    latencies = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for i in range(n):
            started = time.perf_counter()
            response = client.post("/predict", json={"inputs": [ROW], "routing_key": f"k{i}"})
            latencies.append(time.perf_counter() - started)
            assert response.status_code == 200
    return latencies


def test_a_slow_shadow_runs_after_the_answer(admin, gateway_factory, sqlite_url: str, model_name: str, iris) -> None:
    """With a shadow far slower than the primary at 100 %, primaries answer in under half the shadow's own
    time (they would take longer than it if they waited for it); every shadow run is logged.

    How much a shadow costs the primaries on a shared CPU is the benchmark's shadow arm, not a timed test."""
    X, y = iris
    registry = Registry(open_store(sqlite_url))
    registry.register(model_name, LogisticRegression(max_iter=500).fit(X, y))
    registry.register(model_name, RandomForestClassifier(n_estimators=1500, random_state=0).fit(X, y))
    gateway = gateway_factory(sqlite_url)
    client = admin(gateway)
    client.set_shadow(model_name, "v2", sample=100, reason="slow shadow")
    wait_for_shadow_ready(client, model_name, "v2")
    primaries = _sequential_latencies(gateway.url, 40)
    stats = wait_for_shadow(client, model_name, "v2", 40)
    assert stats["runs"] == 40 and stats["errors"] == 0
    gateway.stop()
    records = list(open_store(sqlite_url).iter_predictions(model_name))
    shadows = [r for r in records if r.shadow]
    assert len(shadows) == stats["runs"]
    shadow_ms = statistics.median(r.latency_ms for r in shadows)
    assert statistics.median(primaries) * 1000 < shadow_ms / 2, (statistics.median(primaries), shadow_ms)
    primaries = {r.request_id: r for r in records if not r.shadow}
    for record in shadows:
        primary = primaries[record.request_id]
        assert (record.model_version, record.route, primary.model_version) == ("v2", "shadow", "v1")
        assert record.prediction_id != primary.prediction_id and record.inputs == primary.inputs
        assert record.primary_id == primary.prediction_id  # what an outcome naming the primary joins through


def test_failing_and_overloaded_shadows_never_touch_primaries(
    admin, gateway_factory, sqlite_url: str, model_name: str, iris
) -> None:
    """A shadow that errors on every request, or whose queue is full, leaves every primary a 200 and is counted."""
    X, y = iris
    registry = Registry(open_store(sqlite_url))
    registry.register(model_name, LogisticRegression(max_iter=500).fit(X, y))
    # Takes square roots first: on the negative measurements sent below it computes NaN and scikit-learn
    # refuses to predict, while the primary answers them (every version of a model has the same width).
    registry.register(
        model_name, make_pipeline(FunctionTransformer(np.sqrt), LogisticRegression(max_iter=500)).fit(X, y)
    )
    registry.register(model_name, RandomForestClassifier(n_estimators=300, random_state=0).fit(X, y))  # slow
    gateway = gateway_factory(sqlite_url, shadow_queue="2")
    client = admin(gateway)
    client.set_shadow(model_name, "v2", sample=100, reason="broken shadow")
    failing = asyncio.run(fire(gateway.url, [{"inputs": [NEGATIVE_ROW]}] * 100))
    assert all(r.status_code == 200 and r.json()["model_version"] == "v1" for r in failing)
    client.set_shadow(model_name, "v3", sample=100, reason="slow shadow, tiny queue")
    burst = asyncio.run(fire(gateway.url, [{"inputs": [ROW]}] * 200, concurrency=32))
    assert all(r.status_code == 200 for r in burst)
    failing_stats = wait_for_shadow(client, model_name, "v2", 100)
    assert failing_stats["runs"] == 0 and failing_stats["errors"] == failing_stats["submitted"] > 0
    burst_stats = wait_for_shadow(client, model_name, "v3", 200)
    assert burst_stats["dropped"] > 0 and burst_stats["errors"] == 0
    assert burst_stats["submitted"] == burst_stats["runs"] <= 200 - burst_stats["dropped"]
    assert '"event": "shadow_failed"' in gateway.log()


def test_hot_swap_under_load_fails_nothing(admin, gateway_factory, sqlite_url: str, three_versions: str) -> None:
    """Promote and roll back repeatedly under continuous load: zero failures, every answer allowed by its revision."""
    model = three_versions
    gateway = gateway_factory(sqlite_url, workers=2)
    client = admin(gateway)
    stop = threading.Event()
    seen: list[tuple[int, str, str]] = []
    failures: list[str] = []

    def load() -> None:
        with httpx.Client(base_url=gateway.url, timeout=30) as http:
            i = 0
            while not stop.is_set():
                response = http.post("/predict", json={"inputs": [ROW], "routing_key": f"k{i % 50}"})
                i += 1
                if response.status_code != 200:
                    failures.append(response.text)
                else:
                    body = response.json()
                    seen.append((body["revision"], body["model_version"], body["route"]))

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for cycle in range(6):  # canary v3, promote v2, roll back (the canary ends), again (v1): four a cycle
            client.set_canary(model, "v3", weight=30, reason=f"cycle {cycle}")
            time.sleep(0.15)
            client.promote(model, "v2", reason=f"cycle {cycle}")
            time.sleep(0.15)
            plan = client.rollback(model, reason=f"cycle {cycle}")["plan"]
            assert (plan["stable"], plan["canary"]) == ("v2", None)
            time.sleep(0.15)
            assert client.rollback(model, reason=f"cycle {cycle}")["plan"]["stable"] == "v1"
            time.sleep(0.15)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert failures == []
    plans = {e["revision"]: e["after"] for e in client.history(model)}
    assert len(plans) == 25 and len(seen) > 200
    assert len({revision for revision, _, _ in seen}) > 5
    for revision, version, route in seen:
        plan = plans[revision]
        expected = plan["stable"] if route == "stable" else (plan["canary"] or {}).get("version")
        assert version == expected, (revision, version, route, plan)


def serves_everywhere(gateway, version: str, deadline: float, consecutive: int = 8) -> float:
    """Time at which ``consecutive`` fresh connections in a row (so every worker) answer with ``version``."""
    streak = 0
    while streak < consecutive:
        assert time.monotonic() < deadline, f"{gateway.url} does not serve {version} on every worker in time"
        served = httpx.post(gateway.url + "/predict", json={"inputs": [ROW]}).json()["model_version"]
        streak = streak + 1 if served == version else 0
    return time.monotonic()


def applied_at(gateway: GatewayProcess, model: str, revision: int) -> dict[str, float]:
    """When each worker of ``gateway`` applied ``revision`` of ``model``: instance → epoch seconds, from the
    ``plan_applied`` line it logged (timestamps are the worker's own, taken as it swapped the plan in)."""
    applied: dict[str, float] = {}
    for line in gateway.log().splitlines():
        if '"plan_applied"' not in line:
            continue
        event = json.loads(line)
        if event.get("model") == model and event.get("revision") == revision:
            applied[event["instance"]] = datetime.fromisoformat(event["timestamp"]).timestamp()
    return applied


@pytest.mark.parametrize(
    "backend", [pytest.param("redis", marks=pytest.mark.redis), pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_three_replicas_follow_a_cli_rollback_within_a_second(
    admin,
    request: pytest.FixtureRequest,
    gateway_factory,
    model_name: str,
    iris_models,
    tmp_path: Path,
    backend: str,
) -> None:
    """Three two-worker gateways on one Redis (pub/sub) or one PostgreSQL (LISTEN/NOTIFY): every worker applies
    a CLI rollback within 1 s of the CLI's answer (each worker's own log line says when), then serves the
    rolled-back version."""
    if backend == "redis":
        url = request.getfixturevalue("redis_url")
        request.getfixturevalue("redis_client")
    else:
        url = request.getfixturevalue("postgres_db")
    registry = Registry(open_store(url))
    registry.register(model_name, iris_models["logreg"])
    registry.register(model_name, iris_models["tree"])
    gateways = [gateway_factory(url, workers=2) for _ in range(3)]
    with admin(gateways[0]) as client:
        client.promote(model_name, "v2", reason="v2 goes live")
    for g in gateways:
        serves_everywhere(g, "v2", time.monotonic() + 30)  # set-up
    env = {**os.environ, "CANARYLINE_GATEWAY": gateways[1].url, **TOKEN_ENV}
    canaryline = Path(sys.executable).with_name("canaryline")
    result = subprocess.run(
        [str(canaryline), "rollback", model_name, "--reason", "v2 regressed"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    answered = time.time()
    assert result.returncode == 0, result.stderr
    assert "revision 3, stable v1" in result.stdout
    deadline = time.monotonic() + 30
    while sum(len(applied_at(g, model_name, 3)) for g in gateways) < 6 and time.monotonic() < deadline:
        time.sleep(0.1)
    lags = {f"{g.url} {who}": at - answered for g in gateways for who, at in applied_at(g, model_name, 3).items()}
    assert len(lags) == 6, lags  # two workers on each of three gateways
    assert max(lags.values()) < 1.0, lags
    for g in gateways:
        serves_everywhere(g, "v1", time.monotonic() + 30)


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    canaryline = Path(sys.executable).with_name("canaryline")
    return subprocess.run([str(canaryline), *args], env=env, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(
    ("missing", "variable"),
    [
        ("admin_token", "CANARYLINE_ADMIN_TOKEN"),
        ("read_token", "CANARYLINE_READ_TOKEN"),
        ("feedback_token", "CANARYLINE_FEEDBACK_TOKEN"),
    ],
)
def test_serve_refuses_a_missing_token_in_one_line(
    tmp_path: Path, sqlite_url: str, missing: str, variable: str
) -> None:
    """`canaryline serve` without one of the tokens exits 2 at once with one line saying what to set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CANARYLINE_")}
    env.update({k: v for k, v in TOKEN_ENV.items() if k != variable})
    env.update(CANARYLINE_STORE=sqlite_url, CANARYLINE_HOME=str(tmp_path))
    result = run_cli("serve", "--port", "1", env=env)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and f"{variable} is not set" in result.stderr, result.stderr


def test_serve_refuses_a_short_token_even_in_dev(tmp_path: Path, sqlite_url: str) -> None:
    """A token under 16 characters refuses start with CANARYLINE_DEV=1 too, in one line, without echoing it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CANARYLINE_")}
    env.update(CANARYLINE_STORE=sqlite_url, CANARYLINE_HOME=str(tmp_path), CANARYLINE_DEV="1")
    env.update(CANARYLINE_READ_TOKEN="tiny-secret")
    result = run_cli("serve", "--port", "1", env=env)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "CANARYLINE_READ_TOKEN must be at least 16" in result.stderr
    assert "tiny-secret" not in result.stderr


def test_a_dev_gateway_runs_without_tokens_and_warns_per_token(
    tmp_path: Path, sqlite_url: str, model_name: str, iris_models
) -> None:
    """CANARYLINE_DEV=1 and no token: the gateway serves, logs one warning per missing token, reads are open."""
    Registry(open_store(sqlite_url)).register(model_name, iris_models["logreg"])
    assert not set(TOKEN_ENV) & set(os.environ), "the test environment must not set tokens of its own"
    env = {"CANARYLINE_STORE": sqlite_url, "CANARYLINE_HOME": str(tmp_path / "home"), "CANARYLINE_DEV": "1"}
    gateway = GatewayProcess(env=env, logfile=tmp_path / "dev.log")
    gateway.start()
    try:
        assert httpx.get(f"{gateway.url}/models/{model_name}").status_code == 200
        log = gateway.log()
        for variable in TOKEN_ENV:
            assert f"{variable} is not set (CANARYLINE_DEV=1)" in log, log[-2000:]
    finally:
        gateway.stop()


def test_control_commands_present_the_token_their_endpoint_takes(
    gateway_factory, sqlite_url: str, three_versions: str
) -> None:
    """status and history work with only CANARYLINE_READ_TOKEN; a change needs the admin token (exit 2 without)."""
    model = three_versions
    gateway = gateway_factory(sqlite_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CANARYLINE_")}
    env.update(CANARYLINE_GATEWAY=gateway.url, CANARYLINE_READ_TOKEN=READ_TOKEN)
    for command in (("status", model), ("history", model)):
        result = run_cli(*command, env=env)
        assert result.returncode == 0, result.stderr
    refused = run_cli("promote", model, "v2", "--reason", "r", env=env)
    assert refused.returncode == 2 and "CANARYLINE_ADMIN_TOKEN" in refused.stderr
    no_read = {k: v for k, v in env.items() if k != "CANARYLINE_READ_TOKEN"}
    unread = run_cli("status", model, env=no_read)
    assert unread.returncode == 2 and "CANARYLINE_READ_TOKEN" in unread.stderr
    assert run_cli("status", model, env={**no_read, "CANARYLINE_ADMIN_TOKEN": ADMIN_TOKEN}).returncode == 0

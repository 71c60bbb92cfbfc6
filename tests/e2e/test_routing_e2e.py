"""Routing on real gateway processes: canary share, sticky keys, pinning, hot swap, replicas; tokens at start."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from contextlib import suppress
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from registry_client.registry.registry import Registry
from registry_client.store import open_store
from tests.support.load import fire
from tests.support.servers import GatewayProcess, admin_client, wait_until
from tests.support.tokens import ADMIN_TOKEN, READ_TOKEN, TOKEN_ENV

pytestmark = pytest.mark.e2e
ROW = [5.1, 3.5, 1.4, 0.2]
NEGATIVE_ROW = [-5.1, -3.5, -1.4, -0.2]  # no flower measures that, but the linear models still answer


@pytest.fixture
def three_versions(sqlite_url: str, model_name: str, iris_models) -> str:
    registry = Registry(open_store(sqlite_url))
    for key in ("logreg", "logreg_c01", "tree"):
        registry.register(model_name, iris_models[key])
    return model_name


def test_canary_share_and_sticky_keys(gateway_factory, sqlite_url: str, three_versions: str) -> None:
    """Unkeyed canary share is within 4 sigma of the weight; keys stay put; raising the weight only adds keys."""
    model = three_versions
    gateway = gateway_factory(sqlite_url)
    admin_client(gateway).set_canary(model, "v2", weight=20, reason="canary v2")
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

    admin_client(gateway).set_canary(model, "v2", weight=60, reason="widen")
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
    gateway_factory, sqlite_url: str, three_versions: str
) -> None:
    """With a sticky 50% canary, a key sent as X-Routing-Key or in the body gets one version on every protocol."""
    model = three_versions
    gateway = gateway_factory(sqlite_url)
    admin_client(gateway).set_canary(model, "v2", weight=50, reason="sticky canary")
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


def test_pinning_by_header_and_body(gateway_factory, sqlite_url: str, three_versions: str) -> None:
    """A pinned version in the plan is served with route 'pinned'; any other is a 404 listing what is served."""
    model = three_versions
    gateway = gateway_factory(sqlite_url)
    admin_client(gateway).set_shadow(model, "v3", sample=100, reason="shadow v3")
    by_header = httpx.post(gateway.url + "/predict", json={"inputs": [ROW]}, headers={"X-Model-Version": "v3"})
    by_body = httpx.post(gateway.url + "/predict", json={"inputs": [ROW], "version": "v1"})
    assert (by_header.json()["model_version"], by_header.json()["route"]) == ("v3", "pinned")
    assert by_header.headers["x-model-version"] == "v3"
    assert (by_body.json()["model_version"], by_body.json()["route"]) == ("v1", "pinned")
    refused = httpx.post(gateway.url + "/predict", json={"inputs": [ROW]}, headers={"X-Model-Version": "v2"})
    assert refused.status_code == 404
    assert "versions being served: v1, v3" in refused.json()["error"]["message"]


def test_hot_swap_under_load_fails_nothing(gateway_factory, sqlite_url: str, three_versions: str) -> None:
    """Promote and roll back repeatedly under continuous load: zero failures, every answer allowed by its revision."""
    model = three_versions
    gateway = gateway_factory(sqlite_url, workers=2)
    client = admin_client(gateway)
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

    def everywhere() -> bool:
        nonlocal streak
        served = httpx.post(gateway.url + "/predict", json={"inputs": [ROW]}).json()["model_version"]
        streak = streak + 1 if served == version else 0
        return streak >= consecutive

    wait_until(everywhere, deadline - time.monotonic(), f"{gateway.url} to serve {version} on every worker", 0)
    return time.monotonic()


def applied_at(gateway: GatewayProcess, model: str, revision: int) -> dict[str, float]:
    """When each worker of ``gateway`` applied ``revision`` of ``model``: instance → epoch seconds, from the
    ``plan_applied`` line it logged (timestamps are the worker's own, taken as it swapped the plan in)."""
    applied: dict[str, float] = {}
    decoder = json.JSONDecoder()
    for line in gateway.log().splitlines():
        at = 0
        while '"plan_applied"' in line[at:]:  # two workers' lines were once found joined on one line
            start = line.index("{", at)
            event, at = decoder.raw_decode(line, start)
            if (
                event.get("event") == "plan_applied"
                and event.get("model") == model
                and event.get("revision") == revision
            ):
                applied[event["instance"]] = datetime.fromisoformat(event["timestamp"]).timestamp()
    return applied


@pytest.mark.parametrize(
    "backend", [pytest.param("redis", marks=pytest.mark.redis), pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_three_replicas_follow_a_cli_rollback_within_a_second(
    request: pytest.FixtureRequest, gateway_factory, model_name: str, iris_models, tmp_path: Path, backend: str
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
    admin_client(gateways[0]).promote(model_name, "v2", reason="v2 goes live")
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

    def every_worker_applied() -> bool:
        return sum(len(applied_at(g, model_name, 3)) for g in gateways) >= 6

    with suppress(TimeoutError):
        wait_until(every_worker_applied, 30, "every worker to apply revision 3", 0.1)
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

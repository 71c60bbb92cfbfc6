"""Rollouts on real gateway processes that end otherwise than by their gates: routing that ignores the weight
aborts it, and a human's `canaryline rollback` ends it; a real HTTP receiver gets each decision."""

from __future__ import annotations

import getpass
import itertools
import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from registry_client.store import open_store
from service.dataplane.routing import bucket, canary_threshold
from tests.e2e.test_rollout_e2e import FAST, cli, ended, plan_of, register, rollout_of, start
from tests.support.cli import canaryline, read_jsonl
from tests.support.rollouts import assert_recomputed, quality_from_export
from tests.support.servers import wait_until
from tests.support.tokens import TOKEN_ENV
from tests.support.traffic import Traffic

pytestmark = pytest.mark.e2e


def taken_at(body: dict[str, Any]) -> datetime:
    """When the decision a webhook body carries was taken."""
    return datetime.fromisoformat(body["decision"]["at"])


class Receiver:
    """A local HTTP server in a thread that keeps every JSON body POSTed to it (the rollout webhook's end)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/rollout-events"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def actions(self) -> list[str]:
        """The decisions' actions in the order they were taken (delivery runs on its own thread)."""
        return [body["decision"]["action"] for body in sorted(self.bodies, key=taken_at)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def stable_keys(model: str, weight: float, *, stable: int, canary: int) -> list[str]:
    """Routing keys of which ``stable`` hash to stable buckets and only ``canary`` to the canary's (at
    ``weight`` percent): the traffic of a caller that stopped sending the canary's users."""
    threshold = canary_threshold(weight)
    keys: dict[bool, list[str]] = {True: [], False: []}
    for i in itertools.count():
        key = f"user-{i}"
        on_canary = bucket(model, key) < threshold
        if len(keys[on_canary]) < (canary if on_canary else stable):
            keys[on_canary].append(key)
        if len(keys[True]) == canary and len(keys[False]) == stable:
            return keys[False] + keys[True]
    raise AssertionError("unreachable")


def test_routing_that_ignores_the_weight_aborts_and_the_webhook_gets_each_decision(
    gateway_factory, sqlite_url: str, model_name: str, iris, receiver: Receiver
) -> None:
    """Keyed traffic whose keys almost all hash to stable buckets (10 canary keys among 410 at a 20 % weight,
    where 82 are expected) is a sample-ratio mismatch: the controller aborts the rollout, the canary is
    cleared, and the webhook receiver got every decision (the start through the admin API, the controller's
    begin and abort), with its evidence."""
    register(sqlite_url, model_name, iris, worse=False)
    gateway = gateway_factory(sqlite_url, rollout_webhook=receiver.url, **FAST)
    store = open_store(sqlite_url)
    start(gateway.url, model_name, step_duration_s=60, max_step_duration_s=120)
    keys = stable_keys(model_name, 20, stable=400, canary=10)
    X, _ = iris
    deadline = time.monotonic() + 120
    with httpx.Client(timeout=10) as http:
        wait_until(lambda: rollout_of(store, model_name).revisions, 30, "the first step", 0.1)
        for key, row in zip(itertools.cycle(keys), itertools.cycle(X.tolist())):
            assert time.monotonic() < deadline, f"no abort after 120 s: {rollout_of(store, model_name).last_gates}"
            answer = http.post(gateway.url + "/predict", json={"inputs": [row]}, headers={"X-Routing-Key": key})
            assert answer.status_code == 200, answer.text
            if not rollout_of(store, model_name).active:
                break
    state = ended(store, model_name, 60)
    assert state.phase == "aborted", state.decisions[-1].reason
    ratio = next(g for g in (state.decisions[-1].evidence or {})["gates"] if g["gate"] == "sample_ratio")
    assert ratio["verdict"] == "fail" and ratio["n_canary"] <= 10 and ratio["n_stable"] >= 100
    plan = plan_of(store, model_name)
    assert plan.canary is None and plan.stable == "v1"
    wait_until(lambda: len(receiver.bodies) >= 3, 30, "the webhook to receive every decision", 0.1)
    assert receiver.actions() == [d.action for d in state.decisions] == ["start", "begin", "abort"]
    last = max(receiver.bodies, key=taken_at)
    assert last["model"] == model_name and last["rollout"] == state.id and last["phase"] == "aborted"
    assert last["decision"]["evidence"]["gates"] == ratio_gates(state)


def ratio_gates(state: Any) -> list[dict[str, Any]]:
    """The last decision's gates as stored (JSON round trip, as the webhook body carries them)."""
    return json.loads(json.dumps(state.decisions[-1].model_dump(mode="json")["evidence"]["gates"]))


def test_a_manual_rollback_through_the_cli_ends_the_rollout_recorded_with_who_and_why(
    gateway_factory, sqlite_url: str, model_name: str, iris, tmp_path: Path, receiver: Receiver
) -> None:
    """During a rollout a human runs `canaryline rollback`: the canary is cleared, and the controller ends
    the rollout rather than fight it, recording the human as the actor and their reason; the webhook gets
    that decision too."""
    register(sqlite_url, model_name, iris, worse=False)
    gateway = gateway_factory(sqlite_url, rollout_webhook=receiver.url, **FAST)
    store = open_store(sqlite_url)
    env = {"CANARYLINE_GATEWAY": gateway.url, **TOKEN_ENV}
    start(gateway.url, model_name, step_duration_s=60, max_step_duration_s=120)
    with Traffic([gateway.url], *iris):
        wait_until(lambda: rollout_of(store, model_name).revisions, 30, "the first step", 0.1)
        done = cli("rollback", model_name, "--reason", "p99 alarm from the pager", env=env, home=tmp_path)
        assert done.returncode == 0, done.stderr
        state = ended(store, model_name, 60)
    assert state.phase == "ended"
    manual = store.history(model_name)[-1]
    assert manual.action == "rollback" and manual.actor != "rollout" and getpass.getuser() in manual.actor
    last = state.decisions[-1]
    assert last.action == "end" and last.actor == manual.actor
    assert "p99 alarm from the pager" in last.reason and f"revision {manual.revision}" in last.reason
    plan = plan_of(store, model_name)
    assert plan.canary is None and plan.stable == "v1"
    wait_until(lambda: "end" in receiver.actions(), 30, "the webhook to receive the end", 0.1)
    assert receiver.actions() == [d.action for d in state.decisions] == ["start", "begin", "end"]
    assert max(receiver.bodies, key=taken_at)["decision"]["actor"] == manual.actor


def test_a_rollback_recomputed_from_canaryline_export_equals_its_evidence(
    gateway_factory, sqlite_url: str, model_name: str, iris, tmp_path: Path
) -> None:
    """A worse version rolled back on delayed ground truth; `canaryline export` of the model, filtered by
    nothing but the rollback's recorded window, arms and thresholds, recomputes its quality gate exactly.
    Labels are posted 0.3 s after each answer and the gate counts only requests older than 3 s, so every
    request it counted had its label by then, and none labelled later could join it."""
    register(sqlite_url, model_name, iris, worse=True)
    gateway = gateway_factory(sqlite_url, **FAST)
    store = open_store(sqlite_url)
    start(gateway.url, model_name, label_delay_s=3)
    with Traffic([gateway.url], *iris, label_delay_s=0.3):
        state = ended(store, model_name, 120)
    assert state.phase == "rolled_back", state.decisions[-1].reason
    evidence = store.history(model_name)[-1].evidence
    assert evidence is not None and evidence["action"] == "rollback"
    out = tmp_path / "export.jsonl"
    done = canaryline("export", model_name, "--out", str(out), store_url=sqlite_url, home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert_recomputed(quality_from_export(read_jsonl(out), evidence), evidence)

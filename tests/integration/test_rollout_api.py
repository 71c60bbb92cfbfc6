"""The rollout admin API, the request counts and the webhook, over a real runtime (SQLite store, real models)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from starlette.testclient import TestClient

from registry_client.control import ControlPlane
from registry_client.domain.plan import Plan
from registry_client.registry.registry import Registry
from registry_client.rollout.spec import build_spec
from registry_client.rollout.state import begin
from registry_client.rollout.webhook import Webhook
from registry_client.settings import GatewaySettings
from registry_client.store import open_store
from service.composition import build_runtime
from service.dataplane.routing import bucket
from service.rest.app import build_app
from tests.support.servers import wait_until
from tests.support.tokens import ADMIN_TOKEN, FEEDBACK_TOKEN, READ_TOKEN, TOKEN_SETTINGS, bearer

ROW = [5.1, 3.5, 1.4, 0.2]
SPEC = {"version": "v2", "steps": [10, 50, 100], "step_duration_s": 60, "reason": "api test"}


@pytest.fixture
def gateway(tmp_path: Path, model_name: str, iris_models):
    """A runtime with two versions of one model; the controller ticks every 0.1 s."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    registry = Registry(open_store(url))
    registry.register(model_name, iris_models["logreg"])
    registry.register(model_name, iris_models["tree"])
    settings = GatewaySettings(store=url, home=tmp_path, rollout_tick_s=0.1, **TOKEN_SETTINGS)
    runtime = build_runtime(settings)
    with TestClient(build_app(runtime)) as client:
        yield client, runtime, model_name
    runtime.close()


def test_starting_a_rollout_needs_the_admin_token_and_the_controller_takes_it_on(gateway) -> None:
    """Without the admin token a start is 401; with it the spec is stored and the controller applies step 1."""
    client, runtime, model = gateway
    base = f"/admin/models/{model}/rollout"
    assert client.post(base, json=SPEC, headers=bearer(READ_TOKEN)).status_code == 401
    started = client.post(base, json=SPEC, headers={**bearer(ADMIN_TOKEN), "X-Canaryline-Actor": "sre"})
    assert started.status_code == 200, started.text
    assert started.json()["rollout"]["spec"]["actor"] == "sre"
    wait_until(lambda: runtime.store.get_plan(model).canary is not None, 10, "the first step")
    assert runtime.store.get_plan(model).canary.weight == 10
    answer = client.get(base, headers=bearer(READ_TOKEN)).json()
    status = answer["rollout"]
    assert status["phase"] == "step" and status["revisions"] == [2]
    assert answer["weight"] == 10  # the current step's weight, derived for the console
    again = client.post(base, json=SPEC, headers=bearer(ADMIN_TOKEN))
    assert again.status_code == 409 and again.json()["error"]["code"] == "rollout_conflict"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**SPEC, "steps": [50, 10]}, "steps"),
        ({**SPEC, "margin": 2}, "margin"),
        ({**SPEC, "shadow_first_s": 5, "min_agreement": 1.5}, "min_agreement"),
        ({**SPEC, "min_agreement": 0.9}, "min_agreement"),
        ({**SPEC, "model": "other"}, "model"),
        ({key: value for key, value in SPEC.items() if key != "reason"}, "reason"),
    ],
)
def test_an_invalid_spec_is_a_422_naming_its_field(gateway, body: dict, field: str) -> None:
    """A spec that breaks a rule is refused in the one error shape, naming the field; nothing is stored."""
    client, runtime, model = gateway
    refused = client.post(f"/admin/models/{model}/rollout", json=body, headers=bearer(ADMIN_TOKEN))
    assert refused.status_code == 422, refused.text
    assert field in refused.json()["error"]["message"]
    assert runtime.store.get_rollout(model) is None


def test_pause_resume_abort_and_a_forced_promote(gateway) -> None:
    """Pause and resume change the state only; promote needs force; abort clears the canary, stable stays."""
    client, runtime, model = gateway
    base = f"/admin/models/{model}/rollout"
    admin = bearer(ADMIN_TOKEN)
    client.post(base, json=SPEC, headers=admin)
    wait_until(lambda: runtime.store.get_plan(model).canary is not None, 10, "the first step")
    assert client.post(f"{base}/pause", json={"reason": "look"}, headers=admin).json()["rollout"]["phase"] == "paused"
    assert client.post(f"{base}/resume", json={"reason": "ok"}, headers=admin).json()["rollout"]["phase"] == "step"
    unforced = client.post(f"{base}/promote", json={"reason": "now"}, headers=admin)
    assert unforced.status_code == 422 and "force" in unforced.json()["error"]["message"]
    aborted = client.post(f"{base}/abort", json={"reason": "changed my mind"}, headers=admin)
    assert aborted.json()["rollout"]["phase"] == "aborted"
    plan = runtime.store.get_plan(model)
    assert plan.stable == "v1" and plan.canary is None
    assert client.post(f"{base}/pause", json={"reason": "late"}, headers=admin).status_code == 422
    client.post(base, json=SPEC, headers=admin)
    wait_until(lambda: runtime.store.get_plan(model).canary is not None, 10, "the first step of the second rollout")
    forced = client.post(f"{base}/promote", json={"reason": "ship it", "force": True}, headers=admin)
    assert forced.json()["rollout"]["phase"] == "promoted"
    assert runtime.store.get_plan(model).stable == "v2"
    assert runtime.gateway.plans.get(model).plan.stable == "v2"  # applied by this worker before answering


def test_the_quality_sequence_ends_where_the_gate_reads_it(gateway, iris) -> None:
    """GET …/rollout/sequence (read token) has one point per matured labelled request of the window, and its
    last point is the estimate and bounds of the quality gate the controller computed on the same rows."""
    client, runtime, model = gateway
    base = f"/admin/models/{model}/rollout"
    # Loose gates: nothing may end the rollout while the test reads it (a slow first request fails p99 1.2).
    spec = {**SPEC, "steps": [50, 100], "label_delay_s": 0, "min_outcomes": 5, "margin": 0.5, "max_p99_ratio": 1000}
    assert client.post(base, json=spec, headers=bearer(ADMIN_TOKEN)).status_code == 200
    wait_until(lambda: runtime.gateway.plans.get(model).plan.canary is not None, 10, "the first step, applied")
    X, y = iris
    for i in range(40):
        answer = client.post("/predict", json={"inputs": [X[i * 3].tolist()]})
        assert answer.status_code == 200, answer.text
        body = {"request_id": answer.json()["request_id"], "outcome": int(y[i * 3])}
        assert client.post("/feedback", json=body, headers=bearer(FEEDBACK_TOKEN)).status_code == 202
    assert client.get(f"{base}/sequence").status_code == 401

    def gate() -> dict:
        gates = client.get(base, headers=bearer(READ_TOKEN)).json()["rollout"]["last_gates"]
        return next((g for g in gates if g["gate"] == "quality"), {"n_canary": 0, "n_stable": 0})

    wait_until(lambda: gate()["n_canary"] + gate()["n_stable"] == 40, 20, "a tick over all 40 labelled rows")
    quality = gate()
    sequence = client.get(f"{base}/sequence", headers=bearer(READ_TOKEN)).json()["sequence"]
    assert len(sequence["ts"]) == 40 and sequence["ts"] == sorted(sequence["ts"])
    assert (sequence["n_canary"][-1], sequence["n_stable"][-1]) == (quality["n_canary"], quality["n_stable"])
    assert sequence["threshold"] == -0.5
    assert quality["estimate"] is not None  # 5 rows per arm of 40 at 50 %: fewer has odds of about 1e-7
    last = (sequence["estimate"][-1], sequence["low"][-1], sequence["high"][-1])
    assert last == pytest.approx((quality["estimate"], quality["low"], quality["high"]))


def test_served_and_failed_requests_are_counted_per_revision(gateway) -> None:
    """Answered requests count as served and a refusal after routing (a row of the wrong width) as failed,
    under the revision that routed them, once the tally flushes; a refusal before routing is not counted."""
    client, runtime, model = gateway
    for _ in range(5):
        assert client.post("/predict", json={"inputs": [ROW]}).status_code == 200
    assert client.post("/predict", json={"inputs": [[1.0, 2.0]]}).status_code == 422
    assert client.post("/predict", json={"inputs": [ROW], "routing_key": "u1"}).status_code == 200
    assert client.post("/predict", json={"inputs": "not rows"}).status_code == 422
    runtime.tally.flush()
    counts = {
        (c.key.version, c.key.route, c.key.keyed): (c.served, c.failed)
        for c in runtime.store.request_counts(model, [1])
    }
    assert counts == {("v1", "stable", False): (6, 1)}  # a key counts apart only under a sticky canary


class _Receiver(BaseHTTPRequestHandler):
    answers: ClassVar[list[int]] = []
    bodies: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        status = self.answers.pop(0) if self.answers else 200
        if status == 200:
            self.bodies.append(body)
        self.send_response(status)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


def test_the_webhook_retries_until_the_receiver_takes_the_decision() -> None:
    """A receiver that answers 503 twice gets the decision on the third try, with its evidence."""
    _Receiver.answers, _Receiver.bodies = [503, 503], []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    spec = build_spec({"model": "iris", "version": "v2", "reason": "hook"})
    state = begin(spec, Plan.initial("iris", "v1"), None, now=1.0)
    hook = Webhook(f"http://127.0.0.1:{server.server_port}/hook", base_s=0.05)
    try:
        hook.send(state, state.decisions[0])
        wait_until(lambda: hook.delivered == 1, 10, "the webhook delivery")
    finally:
        hook.close()
        server.shutdown()
        server.server_close()
    [body] = _Receiver.bodies
    assert body["model"] == "iris" and body["decision"]["action"] == "start" and body["rollout"] == state.id


def test_keyed_requests_under_a_sticky_canary_count_their_key_buckets(gateway) -> None:
    """Under a sticky canary a keyed request is counted apart, with its key's bucket: the sample-ratio gate
    counts distinct buckets, the unit the hash assigns, however many requests a key sends."""
    client, runtime, model = gateway
    ControlPlane(runtime.registry).set_canary(
        model, "v2", weight=50, sticky=True, actor="tests", reason="sticky", expected_revision=None
    )
    runtime.gateway.plans.refresh()
    keys = [f"user-{i}" for i in range(40)]
    for key in keys * 3:
        assert client.post("/predict", json={"inputs": [ROW], "routing_key": key}).status_code == 200
    runtime.tally.flush()
    counts = [c for c in runtime.store.request_counts(model, [2]) if c.key.keyed]
    assert sum(c.served for c in counts) == 120
    seen = {b for c in counts for b in c.buckets}
    assert seen == {bucket(model, key) for key in keys}
    canary = next(c for c in counts if c.key.route == "canary")
    assert all(b < 5000 for b in canary.buckets)  # a 50 % canary serves the buckets under 5,000

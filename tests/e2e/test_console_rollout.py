"""The console's rollout page in headless Chromium against a real gateway process running a real rollout.

One gateway serves the module: a model with two versions of a logistic regression on iris, a rollout of v2
held at its first step (20 %) by a long step duration, and labelled traffic until every gate has counts.
The traffic then stops, so the gates the page shows and the ones ``rollout status --json`` reads agree.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from registry_client.client.gateway import GatewayClient
from registry_client.registry.registry import Registry
from registry_client.rollout.sequence import MAX_POINTS
from registry_client.store import open_store
from tests.support.browser import PHONE, no_horizontal_scroll, open_page
from tests.support.cli import canaryline, run_json, table_row
from tests.support.servers import GATEWAYS, GatewayProcess, wait_until
from tests.support.tokens import ADMIN_TOKEN, READ_TOKEN, TOKEN_ENV, bearer
from tests.support.traffic import Traffic

pytestmark = pytest.mark.e2e

FAST = {"ROLLOUT_TICK_S": "0.3", "ROLLOUT_LEASE_S": "3", "REQUEST_COUNTS_FLUSH_S": "0.3", "PLAN_POLL_S": "0.1"}
SPEC: dict[str, Any] = {
    "version": "v2",
    "steps": [20, 50, 100],
    "step_duration_s": 3600,  # held at the first step for the whole module
    "max_step_duration_s": 7200,
    "label_delay_s": 1,
    "min_outcomes": 40,
    "margin": 0.1,
    "max_p99_ratio": 5,
    "max_error_rate_increase": 0.05,
    "reason": "console rollout",
}


@dataclass
class Running:
    gateway: GatewayProcess
    store_url: str
    home: Path
    model: str

    @property
    def ui(self) -> str:
        return self.gateway.url + "/ui/"

    def status(self) -> dict[str, Any]:
        """What ``canaryline rollout status --json`` reports (from the store, as an analyst runs it)."""
        found: dict[str, Any] = run_json("rollout", "status", self.model, store_url=self.store_url, home=self.home)
        return found


def _quality_counted(state: dict[str, Any]) -> bool:
    gates = {g["gate"]: g for g in state.get("last_gates") or []}
    quality = gates.get("quality")
    return quality is not None and quality["estimate"] is not None


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, iris, iris_models) -> Iterator[Running]:
    """A gateway whose only model has a rollout at its first step, its gates computed on labelled traffic."""
    tmp = tmp_path_factory.mktemp("console-rollout")
    url = f"sqlite:///{tmp / 'store.db'}"
    model = f"iris{os.urandom(4).hex()}"
    registry = Registry(open_store(url))
    registry.register(model, iris_models["logreg"])
    registry.register(model, iris_models["logreg_c01"])
    registry.store.close()
    env = {
        "BENTOML_HOME": os.environ["BENTOML_HOME"],
        "CANARYLINE_STORE": url,
        "CANARYLINE_HOME": str(tmp / "home"),
        **TOKEN_ENV,
        **{f"CANARYLINE_{k}": v for k, v in FAST.items()},
    }
    gateway = GatewayProcess(env=env, logfile=tmp / "gateway.log").start()
    try:
        with GatewayClient(gateway.url, token=ADMIN_TOKEN, actor="tests") as client:
            client.start_rollout(model, SPEC)
            with Traffic([gateway.url], *iris, label_delay_s=0.5):
                wait_until(lambda: _quality_counted(client.rollout(model)), 120, "the quality gate's interval", 0.5)
        running = Running(gateway, url, tmp / "cli-home", model)
        # No traffic now: once the last labels mature, every tick computes the same gates.
        seen: list[Any] = []

        def settled() -> bool:
            seen.append(running.status()["last_gates"])
            return len(seen) > 1 and seen[-1] == seen[-2]

        wait_until(settled, 60, "the gates to settle", 2.0)
        yield running
    finally:
        gateway.stop()


@pytest.fixture(autouse=True)
def _gateway_log_on_failure(request: pytest.FixtureRequest, running: Running) -> None:
    """A failed test's report carries the tail of the module's gateway log."""
    request.node.stash.setdefault(GATEWAYS, []).append(running.gateway)


def open_rollout(page: Page, running: Running, model: str | None = None) -> None:
    open_page(page, running.ui, f"models/{model or running.model}/rollout")


def test_the_rollout_page_shows_each_gate_as_rollout_status_does(page: Page, running: Running, tmp_path: Path) -> None:
    """Every gate of the latest tick shows the verdict, counts per arm, estimate and threshold that
    `rollout status --json` reports, under the step and weight the rollout is at."""
    status = running.status()
    open_rollout(page, running)
    expect(page.locator("#rollout-summary dd.phase")).to_contain_text("step 1 of 2 at 20 %")
    expect(page.locator("#rollout-summary dd.weight")).to_have_text("20 %")
    expect(page.locator("#rollout-summary dd.version")).to_have_text("v2 over stable v1")
    rows = page.locator("table.gates tbody tr")
    expect(rows).to_have_count(len(status["last_gates"]))
    assert {g["gate"] for g in status["last_gates"]} >= {"quality", "latency", "errors", "sample_ratio"}
    for gate in status["last_gates"]:
        row = page.locator(f"table.gates tr[data-gate='{gate['gate']}']")
        expect(row.locator("td.verdict-cell")).to_have_text(gate["verdict"])
        expect(row.locator("td.n-canary")).to_have_text(str(gate["n_canary"]))
        expect(row.locator("td.n-stable")).to_have_text(str(gate["n_stable"]))
        expect(row.locator("td.reason .reason-text")).to_have_text(gate["reason"])
        if gate["estimate"] is not None:
            expect(row.locator("td.estimate")).to_have_text(f"{gate['estimate']:.4f}")
        if gate["threshold"] is not None:
            expect(row.locator("td.threshold")).to_have_text(f"{gate['threshold']:.4f}")
    page.screenshot(path=str(tmp_path / "rollout.png"), full_page=True)


def test_the_quality_chart_draws_the_confidence_sequence_the_gate_reads(page: Page, running: Running) -> None:
    """The quality chart draws the gate's confidence sequence over time against −margin: its last point is
    the estimate and bounds `rollout status --json` reports for the latest tick, over as many points as the
    gate had rows (thinned to 300)."""
    quality = next(g for g in running.status()["last_gates"] if g["gate"] == "quality")
    open_rollout(page, running)
    chart = page.locator("#quality-chart")
    expect(chart.locator("canvas")).to_have_count(1)
    series = {s["label"]: s["values"] for s in json.loads(chart.get_attribute("data-marks") or "[]")}
    assert set(series) == {"estimate", "lower bound", "upper bound", "−margin"}
    last = (series["estimate"][-1], series["lower bound"][-1], series["upper bound"][-1])
    assert last == pytest.approx((quality["estimate"], quality["low"], quality["high"]))
    assert set(series["−margin"]) == {-SPEC["margin"]}
    assert len(series["estimate"]) == min(MAX_POINTS, quality["n_canary"] + quality["n_stable"])
    markers = json.loads(chart.get_attribute("data-markers") or "[]")
    assert [m["label"] for m in markers] == ["begin", f"{SPEC['min_outcomes']} per arm"]  # where the gate reads it


def test_the_sequence_route_needs_the_read_token(running: Running) -> None:
    """GET …/rollout/sequence is a 401 without the read token and a 404 for a model without a rollout."""
    base = f"{running.gateway.url}/admin/models"
    assert httpx.get(f"{base}/{running.model}/rollout/sequence", timeout=30).status_code == 401
    missing = httpx.get(f"{base}/nosuchmodel/rollout/sequence", headers=bearer(READ_TOKEN), timeout=30)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "unknown_rollout"


def test_the_first_decision_is_listed_with_its_actor_and_reason(page: Page, running: Running) -> None:
    """The decisions list shows the controller's first step (begin) and the start's spec reason and actor."""
    open_rollout(page, running)
    begin = page.locator("ol.decisions li[data-action='begin']")
    expect(begin).to_have_count(1)
    expect(begin.locator(".actor")).to_have_text("rollout")
    expect(page.locator("#rollout-summary dd.started")).to_contain_text("by tests: console rollout")


def test_pause_from_the_page_is_recorded_with_its_reason_as_text(page: Page, running: Running) -> None:
    """Pause with a reason holding markup and the admin token typed in: the rollout is paused, the decision
    is recorded with the console as actor and the reason shown as text, and `canaryline history` (from the
    store and through the gateway) prints it with that actor and reason as typed; resume brings the step back."""
    reason = "hold on [bold]now[/bold] <script>window.pwned = 1</script>"
    open_rollout(page, running)
    expect(page.locator("#rollout-form")).to_be_visible()
    page.fill("#rollout-reason", reason)
    page.fill("#rollout-token", ADMIN_TOKEN)
    page.click("#rollout-pause")
    expect(page.locator("#rollout-result")).to_have_text("Done: the rollout is paused.")
    expect(page.locator("#rollout-summary dd.phase")).to_contain_text("paused")
    paused = page.locator("ol.decisions li[data-action='pause']").first
    expect(paused.locator(".reason")).to_have_text(reason)
    assert page.evaluate("window.pwned") is None
    status = running.status()
    last = status["decisions"][-1]
    assert (status["phase"], last["action"], last["actor"], last["reason"]) == ("paused", "pause", "console", reason)
    through_gateway = {"CANARYLINE_GATEWAY": running.gateway.url, "CANARYLINE_READ_TOKEN": READ_TOKEN}
    for env in ({}, through_gateway):
        history = canaryline("history", running.model, store_url=running.store_url, home=running.home, env=env)
        assert history.returncode == 0, history.stderr
        assert "paused at step 1" in table_row(history.stdout, "console", "pause", reason)
    page.fill("#rollout-reason", "carry on")
    page.fill("#rollout-token", ADMIN_TOKEN)
    page.click("#rollout-resume")
    expect(page.locator("#rollout-result")).to_have_text("Done: the rollout is step.")
    assert running.status()["phase"] == "step"


def test_a_command_with_the_read_token_is_refused(page: Page, running: Running) -> None:
    """Abort sent with the read token instead of the admin token shows the 401 and the rollout goes on."""
    open_rollout(page, running)
    page.fill("#rollout-reason", "should not happen")
    page.fill("#rollout-token", READ_TOKEN)
    page.click("#rollout-abort")
    expect(page.locator("#rollout-result")).to_contain_text("Refused (401)")
    assert running.status()["phase"] in ("step", "paused")


def test_a_model_without_a_rollout_says_so(page: Page, running: Running) -> None:
    """A model that never had a rollout gets the gateway's 404 message and no command form."""
    open_rollout(page, running, model="nosuchmodel")
    expect(page.locator("#no-rollout")).to_contain_text("has no rollout")
    expect(page.locator("#rollout-form")).to_be_hidden()


def test_the_rollout_page_fits_a_phone(browser: Browser, running: Running, tmp_path: Path) -> None:
    """At 390×844 the rollout page never scrolls sideways (the gate tables scroll in their box)."""
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        open_rollout(page, running)
        expect(page.locator("table.gates tbody tr").first).to_be_visible()
        assert no_horizontal_scroll(page)
        page.screenshot(path=str(tmp_path / "rollout-phone.png"), full_page=True)
    finally:
        context.close()

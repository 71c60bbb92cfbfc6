"""The console at /ui in Debian's headless Chromium against a real gateway process with real traffic.

One gateway serves the module: model A (stable v1, sticky 30 % canary v2, shadow v3, every prediction
labelled) for the read-only pages, model B for the plan changes, and a labelled regressor R. Screenshots
of each page land in the test's temporary directory.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from sklearn.datasets import load_diabetes

from registry_client.registry.registry import Registry
from registry_client.store import open_store
from tests.support.browser import PHONE, chromium_path, no_horizontal_scroll, open_page, sign_in
from tests.support.cli import canaryline, run_json
from tests.support.servers import GATEWAYS, GatewayProcess
from tests.support.tokens import ADMIN_TOKEN, FEEDBACK_TOKEN, READ_TOKEN, TOKEN_ENV, bearer

pytestmark = pytest.mark.e2e
REQUESTS = 90
#: Every chart of model A's report: the evaluation's three and the timeline's three.
CHARTS = ("forest-plot", "coverage-chart", "latency-chart", "traffic-chart", "quality-time-chart", "agreement-chart")


@dataclass
class Console:
    gateway: GatewayProcess
    store_url: str
    home: Path
    seen: str  # model A: canary and shadow, labelled traffic
    changed: str  # model B: promoted through the form
    regressor: str  # model R: a Ridge on diabetes, labelled traffic

    @property
    def ui(self) -> str:
        return self.gateway.url + "/ui/"


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory, iris, iris_models, diabetes_ridge) -> Iterator[Console]:
    """A gateway over a SQLite store holding three models, with labelled traffic on the first and the third."""
    tmp = tmp_path_factory.mktemp("console")
    url = f"sqlite:///{tmp / 'store.db'}"
    suffix = os.urandom(4).hex()
    seen, changed, regressor = f"iris{suffix}", f"flowers{suffix}", f"diabetes{suffix}"
    registry = Registry(open_store(url))
    for name in (seen, changed):
        for key in ("logreg", "tree", "logreg_c01"):
            registry.register(name, iris_models[key])
    registry.register(regressor, diabetes_ridge, task="regression")
    registry.store.close()
    env = {
        "BENTOML_HOME": os.environ["BENTOML_HOME"],
        "CANARYLINE_STORE": url,
        "CANARYLINE_HOME": str(tmp / "home"),
        **TOKEN_ENV,
    }
    gateway = GatewayProcess(env=env, logfile=tmp / "gateway.log").start()
    try:
        with httpx.Client(base_url=gateway.url, timeout=30) as http:
            admin = {**bearer(ADMIN_TOKEN), "X-Canaryline-Actor": "tests"}
            for path, body in (
                ("canary", {"version": "v2", "weight": 30, "reason": "try the tree"}),
                ("shadow", {"version": "v3", "reason": "watch v3"}),
            ):
                assert http.post(f"/admin/models/{seen}/{path}", json=body, headers=admin).status_code == 200
            X, y = iris
            for i in range(REQUESTS):
                row = i % len(y)
                answer = http.post("/predict", json={"model": seen, "inputs": [list(map(float, X[row]))]})
                assert answer.status_code == 200, answer.text
                outcome = {"request_id": answer.json()["request_id"], "outcome": int(y[row])}
                posted = http.post("/feedback", json=outcome, headers=bearer(FEEDBACK_TOKEN))
                assert posted.status_code == 202, posted.text
            dX, dy = load_diabetes(return_X_y=True)
            for i in range(30):
                answer = http.post("/predict", json={"model": regressor, "inputs": [list(map(float, dX[i]))]})
                assert answer.status_code == 200, answer.text
                outcome = {"request_id": answer.json()["request_id"], "outcome": float(dy[i])}
                assert http.post("/feedback", json=outcome, headers=bearer(FEEDBACK_TOKEN)).status_code == 202
        yield Console(gateway, url, tmp / "cli-home", seen, changed, regressor)
    finally:
        gateway.stop()


@pytest.fixture(autouse=True)
def _gateway_log_on_failure(request: pytest.FixtureRequest, console: Console) -> None:
    """A failed test's report carries the tail of the module's gateway log."""
    request.node.stash.setdefault(GATEWAYS, []).append(console.gateway)


def test_sign_in_shows_each_models_plan(page: Page, console: Console, tmp_path: Path) -> None:
    """Signed in with the read token, the models page shows the plan the admin API set; no token in the URL."""
    sign_in(page, console.ui)
    card = page.locator(f"article.model[data-model='{console.seen}']")
    expect(card.locator("dd.stable")).to_have_text("v1")
    expect(card.locator("dd.canary")).to_contain_text("v2 at 30 %")
    expect(card.locator("dd.shadow")).to_contain_text("v3")
    expect(card.locator("table.versions tbody tr")).to_have_count(3)
    expect(page.locator("#readiness")).to_contain_text("Gateway ready")
    assert READ_TOKEN not in page.url
    assert page.evaluate("sessionStorage.getItem('canaryline.read-token')") == READ_TOKEN
    page.screenshot(path=str(tmp_path / "models.png"), full_page=True)


def test_a_wrong_token_is_refused_with_a_message(page: Page, console: Console) -> None:
    """A wrong token keeps the login form up with the refusal, and stores nothing."""
    sign_in(page, console.ui, token="not-the-read-token-000")
    expect(page.locator("#login-error")).to_contain_text("refused (401)")
    assert page.evaluate("sessionStorage.getItem('canaryline.read-token')") is None


def test_a_plan_change_appears_without_a_reload(page: Page, console: Console) -> None:
    """A canary weight changed through the admin API shows on the open models page by polling."""
    sign_in(page, console.ui)
    card = page.locator(f"article.model[data-model='{console.seen}']")
    expect(card.locator("dd.canary")).to_contain_text("v2 at 30 %")
    body = {"version": "v2", "weight": 35, "reason": "a little more"}
    answer = httpx.post(
        f"{console.gateway.url}/admin/models/{console.seen}/canary", json=body, headers=bearer(ADMIN_TOKEN), timeout=30
    )
    assert answer.status_code == 200, answer.text
    expect(card.locator("dd.canary")).to_contain_text("v2 at 35 %", timeout=20_000)


def test_the_forest_plot_has_one_mark_per_version_with_the_eval_interval(
    page: Page, console: Console, tmp_path: Path
) -> None:
    """The model page's forest plot is a canvas with one mark per version, each at the interval eval --json reports."""
    report = run_json("eval", console.seen, store_url=console.store_url, home=console.home)
    open_page(page, console.ui, f"models/{console.seen}")
    forest = page.locator("#forest-plot")
    expect(forest.locator("canvas")).to_have_count(1)
    marks = json.loads(forest.get_attribute("data-marks") or "[]")
    expected = {
        f"{g['model_version']} · {'shadow' if g['shadow'] else g['route']}": g["accuracy"] for g in report["groups"]
    }
    assert {mark["label"] for mark in marks} == set(expected)
    assert len({label.split(" · ")[0] for label in expected}) == len(marks) == 3
    for mark in marks:
        want = expected[mark["label"]]
        assert mark["value"] == pytest.approx(want["value"])
        assert (mark["low"], mark["high"]) == (pytest.approx(want["low"]), pytest.approx(want["high"]))
    expect(page.locator("#latency-chart canvas")).to_have_count(1)
    expect(page.locator("#coverage-chart canvas")).to_have_count(1)
    expect(page.locator("#verdict")).to_have_text(report["verdict"]["text"])
    page.screenshot(path=str(tmp_path / "model.png"), full_page=True)


def _by_start(starts: list[float], values: list[float | None]) -> dict[float, float]:
    return {at: value for at, value in zip(starts, values, strict=True) if value is not None}


def test_the_charts_over_time_draw_the_timelines_series(page: Page, console: Console, tmp_path: Path) -> None:
    """The model page draws traffic share, accuracy and shadow agreement over time as canvases whose series
    are GET /models/{m}/timeline's, one per version, with a marker per plan revision."""
    open_page(page, console.ui, f"models/{console.seen}")
    charts = {"#traffic-chart": "traffic", "#quality-time-chart": "quality", "#agreement-chart": "shadow"}
    for chart in charts:
        expect(page.locator(f"{chart} canvas")).to_have_count(1)
    answer = httpx.get(f"{console.gateway.url}/models/{console.seen}/timeline", headers=bearer(READ_TOKEN), timeout=60)
    assert answer.status_code == 200, answer.text
    timeline = answer.json()
    wanted = {
        "traffic": timeline["traffic"]["share_pct"],
        "quality": timeline["quality"]["values"],
        "shadow": timeline["shadow"]["values"],
    }
    assert set(wanted["traffic"]) == {"v1", "v2"} and set(wanted["shadow"]) == {"v3"}
    assert set(wanted["quality"]) == {"v1", "v2", "v3 · shadow"}
    for chart, key in charts.items():
        located = page.locator(chart)
        starts = json.loads(located.get_attribute("data-starts") or "[]")
        drawn = {
            s["label"]: _by_start(starts, s["values"]) for s in json.loads(located.get_attribute("data-marks") or "[]")
        }
        assert drawn == {label: _by_start(timeline["starts"], v) for label, v in wanted[key].items()}, chart
        markers = json.loads(located.get_attribute("data-markers") or "[]")
        assert [m["label"] for m in markers] == [f"r{r['revision']}" for r in timeline["revisions"]]
    assert len(timeline["revisions"]) >= 3  # the plan at registration, the canary, the shadow
    page.locator("#timeline").screenshot(path=str(tmp_path / "timeline.png"))


def test_promote_through_the_form_changes_the_plan_and_the_history(page: Page, console: Console) -> None:
    """Promote with a reason and the admin token typed into the form: the plan changes, and the history shows
    the reason as text, even one holding markup."""
    reason = "v2 looks right <script>window.pwned = 1</script>"
    open_page(page, console.ui, f"models/{console.changed}")
    expect(page.locator("#plan dd.stable")).to_have_text("v1")
    page.fill("#promote-version", "v2")
    page.fill("#promote-reason", reason)
    page.fill("#promote-token", ADMIN_TOKEN)
    page.click("#promote-form button[type=submit]")
    expect(page.locator("#promote-result")).to_contain_text("stable v2")
    expect(page.locator("#plan dd.stable")).to_have_text("v2")
    expect(page.locator("table.history tbody tr").first).to_contain_text(reason)
    assert page.evaluate("window.pwned") is None
    plan = httpx.get(
        f"{console.gateway.url}/admin/models/{console.changed}/plan", headers=bearer(READ_TOKEN), timeout=30
    ).json()["plan"]
    assert (plan["stable"], plan["reason"], plan["actor"]) == ("v2", reason, "console")


def test_promote_with_a_wrong_admin_token_is_refused(page: Page, console: Console) -> None:
    """A promote sent with the read token instead of the admin token shows the 401 and leaves the plan."""
    open_page(page, console.ui, f"models/{console.changed}")
    before = page.locator("#plan dd.revision").inner_text()
    page.fill("#promote-version", "v3")
    page.fill("#promote-reason", "should not happen")
    page.fill("#promote-token", READ_TOKEN)
    page.click("#promote-form button[type=submit]")
    expect(page.locator("#promote-result")).to_contain_text("Refused (401)")
    expect(page.locator("#plan dd.revision")).to_have_text(before)


def test_a_phone_sized_screen_never_scrolls_sideways(browser: Browser, console: Console, tmp_path: Path) -> None:
    """At 390×844 the models page and a model page fit the screen's width (wide tables scroll in their box)."""
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        sign_in(page, console.ui)
        expect(page.locator(f"article.model[data-model='{console.seen}']")).to_be_visible()
        assert no_horizontal_scroll(page)
        page.screenshot(path=str(tmp_path / "models-phone.png"), full_page=True)
        page.goto(f"{console.ui}#/models/{console.seen}")
        expect(page.locator("#forest-plot canvas")).to_have_count(1)
        assert no_horizontal_scroll(page)
        page.screenshot(path=str(tmp_path / "model-phone.png"), full_page=True)
    finally:
        context.close()


def test_the_html_report_renders_offline(browser: Browser, console: Console, tmp_path: Path) -> None:
    """`eval --html` writes one file that draws every chart (over time too) in the browser without a single
    network request."""
    out = tmp_path / "report.html"
    run_json("eval", console.seen, "--html", str(out), store_url=console.store_url, home=console.home)
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    try:
        page = context.new_page()
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.goto(out.as_uri())
        for chart in CHARTS:
            expect(page.locator(f"#{chart} canvas")).to_have_count(1)
        traffic = json.loads(page.locator("#traffic-chart").get_attribute("data-marks") or "[]")
        assert {series["label"] for series in traffic} == {"v1", "v2"}
        assert len(json.loads(page.locator("#forest-plot").get_attribute("data-marks") or "[]")) == 3
        assert requested == [out.as_uri()]
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    finally:
        context.close()


def test_the_html_report_of_a_regressor_draws_its_mae(browser: Browser, console: Console, tmp_path: Path) -> None:
    """A regressor's report plots MAE with the interval eval --json reports, names MAE in its tables, draws
    its MAE over time, and says it has no shadow to compare."""
    out = tmp_path / "regressor.html"
    report = run_json("eval", console.regressor, "--html", str(out), store_url=console.store_url, home=console.home)
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    try:
        page = context.new_page()
        page.goto(out.as_uri())
        expect(page.locator("#forest-plot canvas")).to_have_count(1)
        [mark] = json.loads(page.locator("#forest-plot").get_attribute("data-marks") or "[]")
        [group] = report["groups"]
        assert mark["label"] == "v1 · stable"
        assert (mark["value"], mark["low"], mark["high"]) == pytest.approx(
            (group["mae"]["value"], group["mae"]["low"], group["mae"]["high"])
        )
        expect(page.locator("table.groups thead")).to_contain_text("MAE (95 % CI)")
        expect(page.locator("#quality-time-chart canvas")).to_have_count(1)
        [over_time] = json.loads(page.locator("#quality-time-chart").get_attribute("data-marks") or "[]")
        assert over_time["label"] == "v1"
        expect(page.locator("#agreement-chart")).to_have_text("No shadow records in this window.")
    finally:
        context.close()


def _png_size(path: Path) -> tuple[int, int, bytes]:
    """A PNG's width, height and decompressed image data; fails unless it is a well-formed PNG."""
    raw = path.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    chunks: dict[bytes, bytes] = {}
    at = 8
    while at < len(raw):
        (length,) = struct.unpack(">I", raw[at : at + 4])
        kind, body = raw[at + 4 : at + 8], raw[at + 8 : at + 8 + length]
        assert zlib.crc32(kind + body) == struct.unpack(">I", raw[at + 8 + length : at + 12 + length])[0]
        chunks[kind] = chunks.get(kind, b"") + body
        at += 12 + length
    assert b"IEND" in chunks
    width, height = struct.unpack(">II", chunks[b"IHDR"][:8])
    return width, height, zlib.decompress(chunks[b"IDAT"])


def test_eval_png_writes_each_chart_as_an_image(console: Console, tmp_path: Path) -> None:
    """`eval --png DIR` writes one well-formed PNG per chart of the report, at twice the CSS pixels, each
    holding a drawing (many distinct pixel values, not a blank box)."""
    chromium_path()  # skips (or fails under CI) without Debian's chromium, as the browser tests do
    out = tmp_path / "charts"
    done = canaryline("eval", console.seen, "--png", str(out), store_url=console.store_url, home=console.home)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{chart}.png" for chart in CHARTS)
    for chart in CHARTS:
        width, height, pixels = _png_size(out / f"{chart}.png")
        assert 1200 <= width <= 2000 and 400 <= height <= 1200, (chart, width, height)
        assert len(set(pixels)) > 50, f"{chart}.png looks blank"
    assert f"wrote {len(CHARTS)} charts" in done.stderr

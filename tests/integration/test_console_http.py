"""The console's files at /ui and GET /models/{m}/evaluation, on the ASGI app over a real runtime; and
`canaryline eval` over the same store: the verdict line and the self-contained `--html` report."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.support.cli import CANARYLINE, canaryline, run_json
from tests.support.gateways import canaried_gateway
from tests.support.tokens import ADMIN_TOKEN, FEEDBACK_TOKEN, READ_TOKEN, bearer


@pytest.fixture
def served(tmp_path: Path, model_name: str, iris, iris_models) -> Iterator[tuple[TestClient, str, Path]]:
    """v1 stable and v2 a 50 % canary with 60 labelled predictions."""
    X, y = iris
    with canaried_gateway(tmp_path, model_name, iris_models) as gateway:
        client = gateway.client
        for i in range(60):
            row = (i * 7) % len(y)
            answer = client.post("/predict", json={"model": model_name, "inputs": [list(map(float, X[row]))]})
            assert answer.status_code == 200, answer.text
            body = {"request_id": answer.json()["request_id"], "outcome": int(y[row])}
            assert client.post("/feedback", json=body, headers=bearer(FEEDBACK_TOKEN)).status_code == 202
        yield client, model_name, tmp_path


def test_ui_serves_the_shell_with_security_headers(served) -> None:
    """/ui redirects to /ui/, whose page loads only same-origin scripts under a CSP without inline script."""
    client, _model, _tmp = served
    redirect = client.get("/ui", follow_redirects=False)
    assert redirect.status_code == 308 and redirect.headers["location"] == "/ui/"
    shell = client.get("/ui/")
    assert shell.status_code == 200 and shell.headers["content-type"].startswith("text/html")
    csp = shell.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert "form-action 'none'" in csp
    assert shell.headers["x-content-type-options"] == "nosniff" and shell.headers["x-frame-options"] == "DENY"
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", shell.text, re.DOTALL)
    assert scripts and all("src=" in attrs and not body.strip() for attrs, body in scripts)
    assert not re.search(r"(src|href)=\"(https?:)?//", shell.text)


def test_ui_files_have_their_types_an_etag_and_a_json_404(served) -> None:
    """Modules are JavaScript with a strong ETag (304 when it matches); an unknown file is a 404 error body."""
    client, _model, _tmp = served
    module = client.get("/ui/app.js")
    assert module.status_code == 200 and module.headers["content-type"].startswith("text/javascript")
    again = client.get("/ui/app.js", headers={"If-None-Match": module.headers["etag"]})
    assert again.status_code == 304 and "content-security-policy" in again.headers
    assert client.get("/ui/vendor/uPlot.iife.min.js").status_code == 200
    missing = client.get("/ui/no-such-file.js")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "no_route"
    assert "content-security-policy" in missing.headers


@pytest.mark.parametrize("token", [None, "not-a-token-0000000", FEEDBACK_TOKEN])
def test_evaluation_needs_the_read_token(served, token: str | None) -> None:
    """Without the read (or admin) token the evaluation is a 401 naming the read realm."""
    client, model, _tmp = served
    answer = client.get(f"/models/{model}/evaluation", headers=bearer(token) if token else {})
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == 'Bearer realm="canaryline-read"'


def test_evaluation_is_what_eval_json_reports(served) -> None:
    """The endpoint answers exactly what `canaryline eval --json` prints for the same store, verdict included."""
    client, model, tmp = served
    answer = client.get(f"/models/{model}/evaluation", headers=bearer(READ_TOKEN))
    assert answer.status_code == 200
    body: dict[str, Any] = answer.json()
    printed = run_json("eval", model, store_url=f"sqlite:///{tmp / 'store.db'}", home=tmp / "cli")
    assert body == printed
    assert {g["model_version"] for g in body["groups"]} == {"v1", "v2"}
    assert sum(g["outcomes"] for g in body["groups"]) == 60
    assert body["verdict"]["canary_version"] == "v2" and body["verdict"]["text"].startswith("v2 ")
    assert client.get(f"/models/{model}/evaluation", headers=bearer(ADMIN_TOKEN)).json() == body


def test_evaluation_window_and_unknown_model(served) -> None:
    """A window after every prediction has no groups; a bad bound is a 422 naming it; an unknown model a 404."""
    client, model, _tmp = served
    read = bearer(READ_TOKEN)
    later = client.get(f"/models/{model}/evaluation", params={"since": "2999-01-01T00:00:00Z"}, headers=read)
    assert later.status_code == 200 and later.json()["groups"] == [] and later.json()["verdict"] is None
    bad = client.get(f"/models/{model}/evaluation", params={"until": "yesterday"}, headers=read)
    assert bad.status_code == 422 and "query parameter until" in bad.json()["error"]["message"]
    backwards = client.get(f"/models/{model}/evaluation", params={"since": "20", "until": "10"}, headers=read)
    assert backwards.status_code == 422
    assert client.get("/models/no-such-model/evaluation", headers=read).status_code == 404


class _Page(HTMLParser):
    """Every tag with its attributes, and the text of the report's JSON element."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.data_json = ""
        self._in_data = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_data = tag == "script" and dict(attrs).get("id") == "data"

    def handle_endtag(self, tag: str) -> None:
        self._in_data = False

    def handle_data(self, data: str) -> None:
        if self._in_data:
            self.data_json += data


def test_eval_html_is_one_self_contained_file(served) -> None:
    """`eval --html` writes a page with no external src or href, uPlot inlined, and the same JSON as --json."""
    _client, model, tmp = served
    url = f"sqlite:///{tmp / 'store.db'}"
    out = tmp / "report.html"
    done = canaryline("eval", model, "--html", str(out), store_url=url, home=tmp / "cli")
    assert done.returncode == 0, done.stderr
    page = _Page()
    page.feed(out.read_text(encoding="utf-8"))
    linked = [(tag, attrs) for tag, attrs in page.tags if "src" in attrs or "href" in attrs or tag == "link"]
    assert linked == []
    scripts = [attrs for tag, attrs in page.tags if tag == "script"]
    assert len(scripts) == 4  # the report's data, the timeline's, uPlot, the code
    csp = next(attrs["content"] for tag, attrs in page.tags if attrs.get("http-equiv") == "Content-Security-Policy")
    assert csp is not None and csp.startswith("default-src 'none'")
    assert "uPlot" in out.read_text(encoding="utf-8")
    assert json.loads(page.data_json) == run_json("eval", model, store_url=url, home=tmp / "cli")


def test_eval_html_refuses_a_missing_folder(served) -> None:
    """A report path in a folder that does not exist is refused in one line with exit 2."""
    _client, model, tmp = served
    done = canaryline(
        "eval",
        model,
        "--html",
        str(tmp / "nope" / "r.html"),
        store_url=f"sqlite:///{tmp / 'store.db'}",
        home=tmp / "cli",
    )
    assert done.returncode == 2 and "does not exist" in done.stderr


def test_eval_ends_with_the_verdict_in_words(served) -> None:
    """The terminal report's last line is the verdict on the latest canary episode, as --json states it."""
    _client, model, tmp = served
    url = f"sqlite:///{tmp / 'store.db'}"
    done = canaryline(
        "eval",
        model,
        store_url=url,
        home=tmp / "cli",
    )
    assert done.returncode == 0, done.stderr
    verdict = run_json("eval", model, store_url=url, home=tmp / "cli")["verdict"]
    last = " ".join(done.stdout.split("verdict:")[-1].split())
    assert last == verdict["text"]
    assert re.match(r"v2 (is (better|worse) than v1 by|and v1 are not told apart)", last)
    assert re.search(r"on \d+ vs \d+ labelled rows; about [\d,]+ more outcomes would narrow this to ±1 point", last)


def test_eval_png_without_a_chromium_says_how_to_get_one(served) -> None:
    """`eval --png` with CANARYLINE_CHROMIUM naming no executable ends with one line naming the setting,
    and writes no file."""
    _client, model, tmp = served
    out = tmp / "charts"
    env = {
        **os.environ,
        "CANARYLINE_STORE": f"sqlite:///{tmp / 'store.db'}",
        "CANARYLINE_HOME": str(tmp / "cli"),
        "CANARYLINE_CHROMIUM": str(tmp / "no-such-chromium"),
    }
    done = subprocess.run(
        [str(CANARYLINE), "eval", model, "--png", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode != 0
    assert "CANARYLINE_CHROMIUM" in done.stderr and "is not an executable" in done.stderr
    assert not out.exists() or not any(out.iterdir())

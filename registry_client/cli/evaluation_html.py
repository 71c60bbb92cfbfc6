"""``canaryline eval MODEL --html FILE``: the console's evaluation charts and tables as one HTML file that
opens anywhere, offline, and can be mailed.

Everything is inlined: uPlot and the console's stylesheet, the console's own chart and report modules
(``registry_client/console/static``: the same code the model page runs, so the file and the console draw the same
thing), and the report's JSON (and the timeline's, when given: traffic share, quality and shadow agreement over
time) in ``<script type="application/json">`` elements that are data, never code.
The file's own Content-Security-Policy allows no network request at all (``default-src 'none'``), so
opening it fetches nothing. Model names and reasons are user input: they reach the page as JSON text and
are put into the DOM as text nodes, never parsed as HTML.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import orjson

from registry_client.analysis.report import ModelEvaluation
from registry_client.analysis.timeline import Timeline
from registry_client.console.assets import read_asset

__all__ = ["report_html"]

#: The console's modules, in dependency order; their ``import`` lines are dropped once they are one script.
_MODULES = ("dom.js", "charts.js", "evaluation.js", "timeline.js")
_IMPORT = re.compile(r"^import .*?;\n", re.MULTILINE | re.DOTALL)
_CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:"


def _script(text: str) -> str:
    if "</script" in text.lower():
        raise ValueError("an inlined script holds '</script': it would end its element early")
    return text


def _window(found: ModelEvaluation) -> str:
    def when(epoch: float | None, default: str) -> str:
        return default if epoch is None else datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")

    return f"{when(found.since, 'the first prediction')} → {when(found.until, 'now')}"


def _json(value: object) -> str:
    return orjson.dumps(value).decode().replace("<", "\\u003c")


def report_html(found: ModelEvaluation, *, timeline: Timeline | None = None, generated: datetime | None = None) -> str:
    """The whole report as one HTML document; with ``timeline``, its charts over time too."""
    data = _json(found.to_json())
    code = "\n".join(_IMPORT.sub("", read_asset(name)) for name in _MODULES)
    boot = 'renderEvaluation(document.getElementById("report"), JSON.parse(document.getElementById("data").text));'
    over_time = ""
    if timeline is not None:
        over_time = f'<script type="application/json" id="timeline-data">{_json(timeline.to_json())}</script>\n'
        boot += (
            '\nrenderTimeline(document.getElementById("timeline"), '
            'JSON.parse(document.getElementById("timeline-data").text));'
        )
    stamp = (generated or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M:%S UTC")
    model = html.escape(found.model)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<title>{model}: evaluation · canaryline</title>
<style>
{read_asset("vendor/uPlot.min.css")}
{read_asset("console.css")}
</style>
</head>
<body>
<header><span class="brand">canaryline</span><span>evaluation report</span></header>
<main>
<h1>{model}</h1>
<p class="muted">{html.escape(found.report.task)} · stable version {html.escape(found.stable or "none")} ·
predictions from {html.escape(_window(found))} · written {stamp} by <code>canaryline eval --html</code></p>
<div id="report"></div>
{"<h2>Over time</h2>" if timeline is not None else ""}
<div id="timeline"></div>
<p class="muted">uPlot © Leon Sorokin, MIT licence (inlined).</p>
</main>
<script type="application/json" id="data">{data}</script>
{over_time}<script>{_script(read_asset("vendor/uPlot.iife.min.js"))}</script>
<script type="module">
{_script(code)}
{boot}
</script>
</body>
</html>
"""

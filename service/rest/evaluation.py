"""``GET /models/{name}/evaluation``: what ``canaryline eval --json`` reports, for the console's model page.

Needs the read token (the report names versions and the plan history's episodes). Query parameters
``since`` and ``until`` (ISO 8601 or epoch seconds) bound the window, as the CLI's options do. The body is
:meth:`~registry_client.analysis.report.ModelEvaluation.to_json` of
:func:`~registry_client.analysis.report.evaluate_model`, the same call the CLI makes.

Evaluation reads every logged row of the model in the window: measured on SQLite here, 0.28 s for 10,000
rows and 3.6 s for 100,000 (about 36 µs a row, in Python). So it runs in a worker thread, never on the
event loop, one at a time per worker, and each window's answer is kept for :data:`FRESH_S` seconds: a
console tab polls every 30 s, and several tabs (or a reload) cost one scan, not one each. The scan still
takes the GIL in turns with the requests this worker serves, so on logs of millions of rows, bound the
window (``since``) or run ``canaryline eval`` away from the gateway.
"""

from __future__ import annotations

import time
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from registry_client.analysis.report import evaluate_model
from registry_client.domain.timestamps import parse_timestamp
from registry_client.errors import InputError, TimestampError
from registry_client.registry.registry import Registry
from service.rest.http import json_response

__all__ = ["FRESH_S", "routes"]

#: How long one window's evaluation is answered from memory.
FRESH_S = 30.0
_Key = tuple[str, float | None, float | None]


def _bound(request: Request, name: str) -> float | None:
    value = request.query_params.get(name)
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except TimestampError as exc:
        raise InputError(f"query parameter {name} {exc.message}") from exc


def routes() -> list[BaseRoute]:
    """The evaluation route, with its own cache of recent answers."""
    answers: dict[_Key, tuple[float, dict[str, Any]]] = {}
    lock = anyio.Lock()

    async def evaluation(request: Request) -> Response:
        request.app.state.gates.read.check(request.headers)
        model = request.path_params["name"]
        since, until = _bound(request, "since"), _bound(request, "until")
        if since is not None and until is not None and since >= until:
            raise InputError(f"query parameter since ({since}) must be before until ({until})")
        key = (model, since, until)
        async with lock:  # one scan at a time per worker: the scans share one store and one GIL anyway
            cached = answers.get(key)
            if cached is None or time.monotonic() - cached[0] > FRESH_S:
                registry: Registry = request.app.state.registry
                found = await anyio.to_thread.run_sync(
                    lambda: evaluate_model(registry, model, since=since, until=until).to_json()
                )
                for stale in [k for k, (at, _) in answers.items() if time.monotonic() - at > FRESH_S]:
                    del answers[stale]
                cached = answers[key] = (time.monotonic(), found)
        return json_response(cached[1])

    return [Route("/models/{name}/evaluation", evaluation, methods=["GET"])]

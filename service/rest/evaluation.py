"""``GET /models/{name}/evaluation`` and ``GET /models/{name}/timeline``: the console's model page reads.

Both need the read token (they name versions and the plan history's episodes). Query parameters ``since``
and ``until`` (ISO 8601 or epoch seconds) bound the window, as the CLI's options do.

* ``/evaluation`` answers what ``canaryline eval --json`` reports:
  :meth:`~registry_client.analysis.report.ModelEvaluation.to_json` of
  :func:`~registry_client.analysis.report.evaluate_model`, the same call the CLI makes.
* ``/timeline`` answers :meth:`~registry_client.analysis.timeline.Timeline.to_json`: traffic share,
  accuracy or MAE, and shadow agreement per version in time buckets, and the plan revisions of the window.
  ``bucket`` (whole seconds) sets the bucket; without it, about :data:`TIMELINE_BUCKETS` buckets.

Both read every logged row of the model in the window: measured on SQLite here, 0.28 s for 10,000 rows
and 3.6 s for 100,000 (about 36 µs a row, in Python). So they run in a worker thread, never on the event
loop, one at a time per worker, and each window's answer is kept for :data:`FRESH_S` seconds: a console
tab polls every 30 s, and several tabs (or a reload) cost one scan, not one each. The scan still takes the
GIL in turns with the requests this worker serves, so on logs of millions of rows, bound the window
(``since``) or run ``canaryline eval`` away from the gateway.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from registry_client.analysis.report import evaluate_model, model_task
from registry_client.analysis.timeline import timeline
from registry_client.domain.timestamps import parse_timestamp
from registry_client.errors import InputError, TimestampError
from registry_client.registry.registry import Registry
from service.rest.http import json_response

__all__ = ["FRESH_S", "TIMELINE_BUCKETS", "routes"]

#: How long one window's answer is kept in memory.
FRESH_S = 30.0
#: Buckets in a timeline without an explicit ``bucket``.
TIMELINE_BUCKETS = 120
_Key = tuple[str, str, float | None, float | None, int | None]
_Scan = Callable[[Registry, str, float | None, float | None, int | None], dict[str, Any]]


def _bound(request: Request, name: str) -> float | None:
    value = request.query_params.get(name)
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except TimestampError as exc:
        raise InputError(f"query parameter {name} {exc.message}") from exc


def _bucket(request: Request) -> int | None:
    value = request.query_params.get("bucket")
    if value is None:
        return None
    if not value.isdigit():
        raise InputError(f"query parameter bucket {value!r} must be a whole number of seconds")
    return int(value)


def _evaluation(registry: Registry, model: str, since: float | None, until: float | None, _: int | None) -> Any:
    return evaluate_model(registry, model, since=since, until=until).to_json()


def _timeline(registry: Registry, model: str, since: float | None, until: float | None, bucket: int | None) -> Any:
    task = model_task(registry, model)
    found = timeline(
        registry.store,
        model,
        task=task,
        now=time.time(),
        since=since,
        until=until,
        bucket_s=bucket,
        max_buckets=TIMELINE_BUCKETS,
    )
    return found.to_json()


def routes() -> list[BaseRoute]:
    """The two routes, sharing one cache of recent answers and one scan at a time."""
    answers: dict[_Key, tuple[float, dict[str, Any]]] = {}
    lock = anyio.Lock()

    def endpoint(kind: str, scan: _Scan, *, bucketed: bool) -> Callable[[Request], Awaitable[Response]]:
        async def answer(request: Request) -> Response:
            request.app.state.gates.read.check(request.headers)
            model = request.path_params["name"]
            since, until = _bound(request, "since"), _bound(request, "until")
            if since is not None and until is not None and since >= until:
                raise InputError(f"query parameter since ({since}) must be before until ({until})")
            bucket = _bucket(request) if bucketed else None
            key = (kind, model, since, until, bucket)
            async with lock:  # one scan at a time per worker: the scans share one store and one GIL anyway
                cached = answers.get(key)
                if cached is None or time.monotonic() - cached[0] > FRESH_S:
                    registry: Registry = request.app.state.registry
                    found = await anyio.to_thread.run_sync(lambda: scan(registry, model, since, until, bucket))
                    for stale in [k for k, (at, _) in answers.items() if time.monotonic() - at > FRESH_S]:
                        del answers[stale]
                    cached = answers[key] = (time.monotonic(), found)
            return json_response(cached[1])

        return answer

    return [
        Route("/models/{name}/evaluation", endpoint("evaluation", _evaluation, bucketed=False), methods=["GET"]),
        Route("/models/{name}/timeline", endpoint("timeline", _timeline, bucketed=True), methods=["GET"]),
    ]

"""``GET /models/{name}/evaluation`` and ``GET /models/{name}/timeline``: the console's model page reads.

Both need the read token (they name versions and the plan history's episodes). Query parameters ``since``
and ``until`` (ISO 8601 or epoch seconds) bound the window, as the CLI's options do.

* ``/evaluation`` answers what ``canaryline eval --json`` reports:
  :meth:`~registry_client.analysis.report.ModelEvaluation.to_json` of
  :func:`~registry_client.analysis.report.evaluate_model`, the same call the CLI makes.
* ``/timeline`` answers :meth:`~registry_client.analysis.timeline.Timeline.to_json`: traffic share,
  accuracy or MAE, and shadow agreement per version in time buckets, and the plan revisions of the window.
  ``bucket`` (whole seconds) sets the bucket; without it, about :data:`TIMELINE_BUCKETS` buckets.

Except on PostgreSQL (which scores, groups and buckets in SQL), both read every logged row of the model
in the window: measured on SQLite here, 0.28 s for 10,000 rows and 3.6 s for 100,000 (about 36 µs a row,
in Python); the timeline costs about as much (``python -m load_tests.bench.timeline_scale``: 6.2 s against
7.7 s for 100,000 rows at a load average of 8, and 92 s against 66 s for 1,000,000; on PostgreSQL the
timeline's SQL took 1.1 s and 15 s). So they run in a worker thread, never on the event loop, one at a
time per worker, and each window's answer is kept for :data:`FRESH_S` seconds or :data:`KEEP_FACTOR`
times as long as it took to compute, whichever is longer: a console tab polls every 30 s, several tabs
(or a reload) cost one scan, not one each, and a scan of a huge log takes at most about a tenth of the
worker's time instead of all of it. The scan still takes the GIL in turns with the requests this worker
serves, so on logs of millions of rows, bound the window (``since``) or run ``canaryline eval`` away from
the gateway.
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
from service.rest.http import check_path_names, json_response

__all__ = ["FRESH_S", "KEEP_FACTOR", "TIMELINE_BUCKETS", "fresh", "routes"]

#: How long one window's answer is kept in memory, at least.
FRESH_S = 30.0
#: An answer that took ``t`` seconds to compute is kept ``KEEP_FACTOR * t`` seconds when that is longer.
KEEP_FACTOR = 10.0
#: Buckets in a timeline without an explicit ``bucket``.
TIMELINE_BUCKETS = 120
_Key = tuple[str, str, float | None, float | None, int | None]
#: An answer: when it was computed (monotonic seconds), how long that took, and the body.
_Answer = tuple[float, float, dict[str, Any]]
_Scan = Callable[[Registry, str, float | None, float | None, int | None], dict[str, Any]]


def _bound(request: Request, name: str) -> float | None:
    value = request.query_params.get(name)
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except TimestampError as exc:
        raise InputError(f"query parameter {name} {exc.message}") from exc


#: The widest bucket a timeline takes: a year.
_MAX_BUCKET_S = 366 * 24 * 3600


def _bucket(request: Request) -> int | None:
    value = request.query_params.get("bucket")
    if value is None:
        return None
    # ASCII digits only ('²'.isdigit() is true, and int() refuses it), and at least one second
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= _MAX_BUCKET_S:
        raise InputError(f"query parameter bucket {value!r} must be a whole number of seconds, 1 to {_MAX_BUCKET_S}")
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


def fresh(computed_at: float, took: float, now: float) -> bool:
    """Whether an answer computed at ``computed_at`` in ``took`` seconds may still be given at ``now``."""
    return now - computed_at <= max(FRESH_S, KEEP_FACTOR * took)


def routes() -> list[BaseRoute]:
    """The two routes, sharing one cache of recent answers and one scan at a time."""
    answers: dict[_Key, _Answer] = {}
    lock = anyio.Lock()

    def endpoint(kind: str, scan: _Scan, *, bucketed: bool) -> Callable[[Request], Awaitable[Response]]:
        async def answer(request: Request) -> Response:
            request.app.state.gates.read.check(request.headers)
            check_path_names(request.path_params)
            model = request.path_params["name"]
            since, until = _bound(request, "since"), _bound(request, "until")
            if since is not None and until is not None and since >= until:
                raise InputError(f"query parameter since ({since}) must be before until ({until})")
            bucket = _bucket(request) if bucketed else None
            key = (kind, model, since, until, bucket)
            async with lock:  # one scan at a time per worker: the scans share one store and one GIL anyway
                cached = answers.get(key)
                if cached is None or not fresh(cached[0], cached[1], time.monotonic()):
                    registry: Registry = request.app.state.registry
                    started = time.monotonic()
                    found = await anyio.to_thread.run_sync(lambda: scan(registry, model, since, until, bucket))
                    now = time.monotonic()
                    for stale in [k for k, (at, took, _) in answers.items() if not fresh(at, took, now)]:
                        del answers[stale]
                    cached = answers[key] = (now, now - started, found)
            return json_response(cached[2])

        return answer

    return [
        Route("/models/{name}/evaluation", endpoint("evaluation", _evaluation, bucketed=False), methods=["GET"]),
        Route("/models/{name}/timeline", endpoint("timeline", _timeline, bucketed=True), methods=["GET"]),
    ]

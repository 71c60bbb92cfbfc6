"""BentoML's HTTP traffic metrics with bounded labels: the route a request matched, never the path it sent.

BentoML's ``RunnerTrafficMetricsMiddleware``, the outermost layer of every worker's app, labels
``bentoml_service_request_total``, ``…_request_duration_seconds`` and ``…_request_in_progress`` with the
request's raw path (``endpoint="/v2/models/x7Q/infer"``). Every distinct path a client sends adds series
(a histogram's 19 per path and status) that stay until the gateway stops, in every worker's metric file:
after ``make fuzz`` (schemathesis: ~40,000 requests with generated model names and paths) ``/metrics``, which
reads and merges those files on each scrape, took over 30 s, and any client could grow a worker's memory
and the scrape without bound by sending new paths.

:func:`use_bounded_traffic_metrics` puts :class:`BoundedTrafficMetricsMiddleware` where BentoML's app factory
builds its own (as :mod:`service.rest.timeout` does for the timeout): it hands BentoML's middleware the
request with its path replaced by :func:`endpoint_label`, the template of the gateway route it matches
(``/v2/models/{name}/infer``), one of BentoML's own paths (``/livez``, ``/metrics``), else ``other``, and
hands the app behind it the request exactly as it came. The labels are then a fixed set (one per route,
times the statuses answered); BentoML's counting itself is unchanged.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from bentoml._internal.server.http import instruments
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from service.rest.api_operations import BENTOML
from service.rest.app import admin_routes, data_routes

__all__ = ["OTHER", "BoundedTrafficMetricsMiddleware", "endpoint_label", "use_bounded_traffic_metrics"]

#: The label of a path no route of the gateway (or BentoML) answers.
OTHER = "other"
#: Paths already labelled, kept while there are at most this many (then started afresh): the served paths'
#: look-up is one dict get, and a flood of distinct paths cannot grow the cache either.
_CACHE_SIZE = 1024
_SENT = "canaryline.sent_scope"
_labels: dict[str, str] = {}


@cache
def _templates() -> tuple[dict[str, str], tuple[tuple[re.Pattern[str], str], ...]]:
    """BentoML's own paths, exactly, and each gateway route's pattern with its template, in the router's order."""
    exact = {op.path: op.path for op in BENTOML}
    patterns = tuple(
        (route.path_regex, route.path) for route in (*data_routes(), *admin_routes()) if isinstance(route, Route)
    )
    return exact, patterns


def endpoint_label(path: str) -> str:
    """The route template ``path`` matches (``/models/{name}``), BentoML's own path, or :data:`OTHER`."""
    label = _labels.get(path)
    if label is not None:
        return label
    exact, patterns = _templates()
    label = exact.get(path) or next((template for regex, template in patterns if regex.match(path)), OTHER)
    if len(_labels) >= _CACHE_SIZE:
        _labels.clear()
    _labels[path] = label
    return label


class BoundedTrafficMetricsMiddleware(instruments.RunnerTrafficMetricsMiddleware):
    """BentoML's traffic metrics, labelled with :func:`endpoint_label` instead of the raw path."""

    def __init__(self, app: ASGIApp, **options: Any) -> None:
        super().__init__(_as_sent(app), **options)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):  # BentoML labels both by path
            await super().__call__(scope, receive, send)
            return
        await super().__call__({**scope, "path": endpoint_label(scope["path"]), _SENT: scope}, receive, send)


def _as_sent(app: ASGIApp) -> ASGIApp:
    """``app``, handed the request as the client sent it (BentoML's middleware saw the labelled copy)."""

    async def restored(scope: Scope, receive: Receive, send: Send) -> None:
        await app(scope.get(_SENT, scope), receive, send)

    return restored


def use_bounded_traffic_metrics() -> None:
    """Make BentoML's app factory build :class:`BoundedTrafficMetricsMiddleware` where it would build its own.

    Call before BentoML builds the worker's app (at the import of ``service.service``).
    """
    instruments.RunnerTrafficMetricsMiddleware = BoundedTrafficMetricsMiddleware  # type: ignore[misc,assignment]  # its options

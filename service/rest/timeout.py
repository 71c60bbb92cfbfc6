"""The service's traffic timeout without a 60-second timer left behind by every request.

BentoML enforces ``traffic.timeout`` (504 when no answer has started in time) with its ``TimeoutMiddleware``,
which runs every request in a task of its own and schedules ``loop.call_later(timeout, …)`` that it never
cancels: each request leaves a timer, a future, a bound method and a context alive for the whole timeout.
At 1,000 requests/s and the 60 s timeout that is about 300,000 live objects in the oldest generation,
so every full garbage collection walked them: the 20-350 ms pauses (CPU time, not preemption) behind the
fixed-rate arms' p99 in load_tests (a ``gc.get_objects(2)`` census of a loaded worker: 6,462 each of
``TimerHandle``, ``Future``, ``Context`` and bound ``method`` after 13 s of load, and nothing else growing).

BentoML's configuration cannot turn the middleware off (``traffic.timeout`` must be positive), so
:func:`use_request_timeout` puts :class:`RequestTimeoutMiddleware` in its place: the same rule (504 when
no answer has started within ``traffic.timeout``, the request then cancelled) in the request's own task
with ``asyncio.timeout``, whose timer is cancelled as soon as the answer starts, so nothing outlives the
request; the 504 has the gateway's error body. :func:`use_request_timeout` replaces the class BentoML's app
factory imports when it builds each worker's app (``bentoml._internal.server.http.traffic``); a test pins
that the built app holds ours, so a BentoML upgrade that moves it fails there, not in production.
"""

from __future__ import annotations

import asyncio

from bentoml._internal.server.http import traffic
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from registry_client.domain.identifiers import new_id
from registry_client.errors import RequestTimeoutError
from service.rest.http import error_response

__all__ = ["RequestTimeoutMiddleware", "use_request_timeout"]


class RequestTimeoutMiddleware:
    """Answers 504 and cancels the request when no answer has started within ``timeout`` seconds."""

    def __init__(self, app: ASGIApp, timeout: float) -> None:
        self.app = app
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        deadline = asyncio.timeout(self.timeout)

        async def send_started(message: Message) -> None:
            nonlocal started
            if not started:
                started = True
                deadline.reschedule(None)  # answering: the rest of the body may take as long as it takes
            await send(message)

        try:
            async with deadline:
                await self.app(scope, receive, send_started)
        except TimeoutError:
            if started or not deadline.expired():  # the app's own TimeoutError, or ours once answering
                raise
            error = RequestTimeoutError(f"no answer within {self.timeout:g} s (the service's traffic timeout)")
            await error_response(scope["path"], error, new_id())(scope, receive, send)


def use_request_timeout() -> None:
    """Make BentoML's app factory build :class:`RequestTimeoutMiddleware` where it would build its own.

    Call before BentoML builds the worker's app (at the import of ``service.service``).
    """
    traffic.TimeoutMiddleware = RequestTimeoutMiddleware  # type: ignore[misc,assignment]  # same constructor

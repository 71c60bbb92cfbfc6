"""Load shedding: each worker answers at most ``CANARYLINE_MAX_CONCURRENCY`` data-plane requests at once.

Beyond the limit a request is answered at once with 503 and ``Retry-After: 1`` (in its protocol's error
body, code ``overloaded``) and counted in ``canaryline_requests_shed_total{endpoint}``, instead of
queueing in the worker: without a limit, 512 concurrent connections queued without bound (p99 385 ms
and climbing, worker memory growing, never a 503). Below the limit nothing is ever shed. Only POSTs to
the data plane count and are shed (``/predict``, ``/feedback``, OIP v2 and KServe v1 inference): reads
and the admin API never are, so an operator can still roll back an overloaded gateway, and BentoML's
``/livez``, ``/readyz`` and ``/metrics`` are GETs.

**Where.** A pure ASGI middleware on the BentoML service (next to :mod:`service.rest.readiness`), so a shed
request skips BentoML's context middleware, its router, the mount and our app's own middleware: with
the limit inside our Starlette app a shed cost the worker about 320 µs of CPU (a served prediction
about 700-1,000 µs); about a fifth of that was the layers it now skips. What it still pays for is
BentoML's outer middleware (traffic metrics, OpenTelemetry, timeout) and uvicorn's HTTP parsing.
BentoML's own ``traffic.max_concurrency`` is not used: it answers 429 without ``Retry-After`` in a body
of its own, counts nothing, and limits every route, the control plane included.

One event loop per worker process runs every request, so the in-flight count is a plain integer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from registry_client.domain.identifiers import new_id
from registry_client.errors import ServiceUnavailableError
from service.rest.http import error_response

if TYPE_CHECKING:
    from service.composition import Runtime

__all__ = ["ConcurrencyGate", "ConcurrencyLimitMiddleware", "shed_endpoint"]

RETRY_AFTER_S = 1


@dataclass
class ConcurrencyGate:
    """A worker's limit, how many limited requests it is answering, and what counts a shed one."""

    limit: int
    on_shed: Callable[[str], None] = field(default=lambda endpoint: None)
    in_flight: int = 0

    @classmethod
    def of(cls, runtime: Runtime) -> ConcurrencyGate:
        return cls(runtime.settings.max_concurrency, runtime.metrics.shed)


def shed_endpoint(path: str) -> str:
    """The route template a shed request was for (a metric label: never the client's own path)."""
    if path in ("/predict", "/feedback"):
        return path
    if path.startswith("/v2/"):
        if not path.endswith("/infer"):
            return "/v2"
        return "/v2/models/{name}/versions/{version}/infer" if "/versions/" in path else "/v2/models/{name}/infer"
    if path.startswith("/v1/"):
        return "/v1/models/{name}:predict" if path.endswith(":predict") else "/v1"
    return "other"


def _limited(scope: Scope) -> bool:
    return scope["type"] == "http" and scope["method"] == "POST" and not scope["path"].startswith("/admin/")


class ConcurrencyLimitMiddleware:
    """Sheds limited requests beyond the gate's limit; without ``gate``, uses the worker's BentoML runtime."""

    def __init__(self, app: ASGIApp, gate: ConcurrencyGate | None = None) -> None:
        self.app = app
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _limited(scope):
            await self.app(scope, receive, send)
            return
        gate = self.gate or self._worker_gate()
        if gate is None:  # the worker is still starting: nothing to protect yet
            await self.app(scope, receive, send)
            return
        if gate.in_flight >= gate.limit:
            gate.on_shed(shed_endpoint(scope["path"]))
            await _overloaded(scope["path"], gate.limit)(scope, receive, send)
            return
        gate.in_flight += 1
        answered = False

        async def send_and_release(message: Message) -> None:
            # The slot is free before the last byte leaves, so a client that waits for its answer before
            # sending again never finds its own previous request still counted (the task itself ends a few
            # loop iterations after the answer was written).
            nonlocal answered
            if not answered and message["type"] == "http.response.body" and not message.get("more_body", False):
                answered = True
                gate.in_flight -= 1
            await send(message)

        try:
            await self.app(scope, receive, send_and_release)
        finally:
            if not answered:
                gate.in_flight -= 1

    def _worker_gate(self) -> ConcurrencyGate | None:
        import bentoml
        from bentoml.exceptions import BentoMLException

        try:
            runtime: Runtime = bentoml.get_current_service().runtime
        except (BentoMLException, AttributeError):  # not built yet
            return None
        self.gate = ConcurrencyGate.of(runtime)
        return self.gate


def _overloaded(path: str, limit: int) -> ASGIApp:
    """The 503 in the error body of the request's protocol."""
    error = ServiceUnavailableError(
        f"this gateway worker is already answering its limit of {limit} requests (CANARYLINE_MAX_CONCURRENCY); "
        f"retry in {RETRY_AFTER_S} s",
        code="overloaded",
        retry_after=RETRY_AFTER_S,
    )
    return error_response(path, error, new_id())

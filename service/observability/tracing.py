"""One OpenTelemetry server span per prediction, instead of the four BentoML's ASGI middleware makes.

BentoML wraps every request in OpenTelemetry's ASGI middleware, which opens a server span plus one span
per ``receive`` and ``send`` message. With BentoML's default sampling (ratio 0) those are non-recording,
yet they cost about a fifth of a worker's CPU on ``/predict`` (py-spy, see load_tests/README.md). So
``/predict`` is excluded from that middleware (``tracing.excluded_urls`` in service/service.py) and the
handler opens a single SERVER span itself, with BentoML's own tracer provider: an incoming W3C
``traceparent`` is continued exactly as before, sampling and exporters stay BentoML's configuration,
and the trace ID still reaches the record and the log lines.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any

__all__ = ["EXCLUDED_FROM_MIDDLEWARE", "RequestTracer"]

#: URL patterns (regular expressions, searched in the full URL) that BentoML's middleware skips.
EXCLUDED_FROM_MIDDLEWARE = [r"/predict$"]


class RequestTracer:
    """Opens the request's server span; outside a BentoML worker the global provider is a no-op."""

    def __init__(self) -> None:
        self._tracer: Any = None
        self._propagator: Any = None

    def _setup(self) -> None:
        from opentelemetry import trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        provider: Any = None
        try:
            from bentoml._internal.configuration.containers import BentoMLContainer

            provider = BentoMLContainer.tracer_provider.get()
        except Exception:
            provider = None
        self._tracer = trace.get_tracer("canaryline", tracer_provider=provider)
        self._propagator = TraceContextTextMapPropagator()

    def span(self, name: str, headers: Mapping[str, str]) -> AbstractContextManager[Any]:
        """The server span for one request, continuing the ``traceparent`` in ``headers`` if any."""
        if self._tracer is None:
            self._setup()
        if self._tracer is None:
            return nullcontext()
        from opentelemetry.trace import SpanKind

        parent = self._propagator.extract(carrier=headers) if "traceparent" in headers else None
        return self._tracer.start_as_current_span(name, context=parent, kind=SpanKind.SERVER)  # type: ignore[no-any-return]

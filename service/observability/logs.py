"""structlog set-up: one JSON object per line on stderr, with request context from contextvars."""

from __future__ import annotations

import logging
import sys

import structlog
from structlog.typing import EventDict, WrappedLogger

__all__ = ["REQUEST_FIELDS", "configure_logging", "current_trace_id", "render_stdlib_logs_as_json"]

#: Keys every log line carries: bound once per request (``None`` outside one, or before it got that far).
REQUEST_FIELDS = ("request_id", "prediction_id", "model", "model_version", "route", "revision", "trace_id")

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def configure_logging(level: str = "info", *, instance: str | None = None) -> None:
    """JSON lines on stderr at ``level``; with ``instance``, every line names the process that wrote it
    (a gateway runs several workers into one log, and each applies plans on its own)."""

    def _instance(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
        event_dict.setdefault("instance", instance)
        return event_dict

    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            _request_fields,
            _instance,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )


def _request_fields(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    for key in REQUEST_FIELDS:
        event_dict.setdefault(key, None)
    return event_dict


def current_trace_id() -> str | None:
    """The W3C trace ID of the current OpenTelemetry span, or ``None`` outside one.

    BentoML's OpenTelemetry middleware continues an incoming ``traceparent`` (same trace ID) or starts a
    new trace, so inside a gateway worker every request has one.
    """
    from opentelemetry import trace  # here: only the serving path needs it (61 ms to import)

    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def render_stdlib_logs_as_json() -> None:
    """Render the standard-library log records of this process (BentoML's, uvicorn's) as our JSON lines.

    BentoML's workers log through handlers it installs on start-up; this keeps the handlers and swaps
    their formatter, so those lines carry the same keys (and request context) as ours.
    """
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.contextvars.merge_contextvars,
            _request_fields,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )
    for name in ("", "bentoml", "uvicorn", "uvicorn.error", "uvicorn.access", "circus"):
        for handler in logging.getLogger(name).handlers:
            handler.setFormatter(formatter)

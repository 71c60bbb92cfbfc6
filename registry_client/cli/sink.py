"""``canaryline sink``: drain the gateways' Redis store into PostgreSQL until SIGTERM.

``CANARYLINE_STORE`` is the Redis store the gateways log to, ``CANARYLINE_SINK_DSN`` the PostgreSQL database
it is drained into (the other ``CANARYLINE_SINK_*`` settings: :class:`~registry_client.settings.SinkSettings`).
It checks both once at start and refuses in one line when either cannot be used (a wrong URL, a missing
database, credentials refused, a schema newer than this code); after that, an outage of either is waited
out (:mod:`registry_client.sink.loop`). Logs are one JSON object per line on stderr: a ``sink.batch`` line
per batch; with ``CANARYLINE_SINK_METRICS_PORT``, Prometheus metrics too (:mod:`registry_client.sink.metrics`).
SIGTERM or SIGINT finishes the batch in hand, acknowledges it, and exits 0.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

import structlog

from registry_client.cli.output import fail
from registry_client.errors import CanarylineError
from registry_client.settings import SinkSettings, redact_url

__all__ = ["sink"]


def _configure_logs() -> None:
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", key="timestamp"),
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )


def sink() -> None:
    """Drain the Redis store's prediction streams and outcomes into PostgreSQL (CANARYLINE_SINK_DSN)."""
    from registry_client.sink import PostgresTarget, RedisSource, Sink
    from registry_client.store.redis import RedisStore

    settings = SinkSettings.from_env(refusing="sink refusing to start")
    source_url = settings.store_url()
    if not source_url.startswith(("redis://", "rediss://", "unix://")):
        fail(f"the sink drains a Redis store; CANARYLINE_STORE is {settings.shown_store_url()}", 2)
    if settings.sink_dsn is None:
        fail("set CANARYLINE_SINK_DSN to the PostgreSQL database the sink writes (postgresql://…)", 2)
    _configure_logs()
    # a blocking read waits up to block_ms on the socket: the socket's timeout must outlast it
    store = RedisStore(
        source_url,
        stream_maxlen=settings.redis_stream_maxlen,
        index_ttl_s=settings.redis_index_ttl_s,
        socket_timeout=settings.store_timeout_s + settings.sink_block_ms / 1000,
    )
    target = PostgresTarget(str(settings.sink_dsn), timeout_s=settings.sink_timeout_s)
    try:
        store.ping()
        target.ping()
    except CanarylineError as exc:
        store.close()
        target.close()
        fail(f"sink refusing to start: {exc.message}", 1)
    source = RedisSource(
        store,
        group=settings.sink_group,
        consumer=settings.sink_consumer,
        batch=settings.sink_batch,
        block_ms=settings.sink_block_ms,
        claim_idle_ms=settings.sink_claim_idle_ms,
        linger_ms=settings.sink_linger_ms,
    )
    loop = Sink(
        source,
        target,
        retry_max_s=settings.sink_retry_max_s,
        plans_s=settings.sink_plans_s,
        retention_days=settings.retention_days,
        retention_every_s=settings.sink_retention_every_s,
    )
    if settings.sink_metrics_port is not None:
        try:
            loop.metrics.serve(settings.sink_metrics_port, settings.sink_metrics_host)
        except OSError as exc:
            fail(f"sink refusing to start: cannot serve metrics on port {settings.sink_metrics_port}: {exc}", 1)
    stop = threading.Event()

    def stopping(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, stopping)
    signal.signal(signal.SIGINT, stopping)
    structlog.get_logger("canaryline.sink").info(
        "sink.started",
        source=settings.shown_store_url(),
        target=redact_url(str(settings.sink_dsn)),
        group=settings.sink_group,
        consumer=settings.sink_consumer,
        batch=settings.sink_batch,
        retention_days=settings.retention_days,
        metrics_port=settings.sink_metrics_port,
    )
    try:
        loop.run(stop)
    except CanarylineError as exc:
        fail(f"sink stopping: {exc.message}", 1)
    finally:
        target.close()
        store.close()

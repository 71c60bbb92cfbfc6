"""The sink's Prometheus metrics, in a registry of its own, served on ``CANARYLINE_SINK_METRICS_PORT`` when set.

- ``canaryline_sink_records_total{result}``: prediction records written, ``new`` or ``duplicate`` (already in
  PostgreSQL: a redelivered entry, which is how at-least-once shows);
- ``canaryline_sink_outcomes_total``: outcomes written;
- ``canaryline_sink_set_aside_total``: entries moved to ``canaryline:sink:dead`` (refused or unreadable);
- ``canaryline_sink_lost_total``: pending entries trimmed from their Redis stream before the sink wrote
  them: records lost to PostgreSQL (alert on any);
- ``canaryline_sink_errors_total{kind}``: batches that failed and will be retried (PostgreSQL or Redis down);
- ``canaryline_sink_batch_seconds``: from a batch read to its acknowledgement;
- ``canaryline_sink_lag_entries``: entries of the drained streams not yet delivered to the group (Redis'
  ``lag``, read every 5 s): a sink falling behind shows here before Redis trims anything.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

__all__ = ["SinkMetrics"]


class SinkMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.records = Counter(
            "canaryline_sink_records", "Prediction records written to PostgreSQL", ["result"], registry=r
        )
        self.outcomes = Counter("canaryline_sink_outcomes", "Outcomes written to PostgreSQL", registry=r)
        self.set_aside = Counter(
            "canaryline_sink_set_aside", "Entries moved to canaryline:sink:dead (refused or unreadable)", registry=r
        )
        self.lost = Counter(
            "canaryline_sink_lost", "Pending entries trimmed from Redis before they were written", registry=r
        )
        self.errors = Counter("canaryline_sink_errors", "Batches that failed and are retried", ["kind"], registry=r)
        self.batch_seconds = Histogram(
            "canaryline_sink_batch_seconds",
            "Seconds from a batch read to its acknowledgement",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.lag = Gauge("canaryline_sink_lag_entries", "Entries not yet delivered to the sink group", registry=r)

    def serve(self, port: int, host: str) -> None:
        """Serve ``/metrics`` from a daemon thread."""
        start_http_server(port, addr=host, registry=self.registry)

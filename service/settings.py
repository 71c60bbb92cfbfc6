"""The gateway's settings: everything in :class:`CanarylineSettings` plus what only serving needs."""

from __future__ import annotations

import os
import socket
from typing import Literal

from pydantic import Field

from registry_client.settings import CanarylineSettings

__all__ = ["GatewaySettings"]


def _default_instance() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class GatewaySettings(CanarylineSettings):
    max_batch: int = Field(default=1000, ge=1)
    max_body_bytes: int = Field(default=1 << 20, ge=1024)
    #: ``ack``: answer after the store accepted the record; ``async``: answer at once, flush soon after;
    #: ``off``: log nothing — a baseline for benchmarks only, never for serving real traffic.
    log_mode: Literal["ack", "async", "off"] = "ack"
    #: Upper bound of each worker's local spool file, used while the store is unreachable.
    spool_max_bytes: int = Field(default=256 << 20, ge=1024)
    #: What to do when the spool is full: ``reject`` (answer 503) or ``drop`` (serve, count the loss).
    log_on_full: Literal["reject", "drop"] = "reject"
    #: Largest group-commit batch the log writer sends in one round trip.
    log_batch: int = Field(default=512, ge=1)
    #: Mount the admin (control-plane) API; it needs ``admin_token`` unless ``insecure_admin``.
    admin_api: bool = True
    insecure_admin: bool = False
    #: How often each worker checks the store for a new plan revision (seconds).
    plan_poll_s: float = Field(default=0.25, gt=0)
    #: Shadow jobs allowed in flight per worker; more are dropped and counted, never delayed onto the primary.
    shadow_queue: int = Field(default=256, ge=1)
    #: Data-plane requests each worker answers at once; more are refused 503 with Retry-After (service/overload.py).
    #: 32 is four times the 8 concurrent requests at which one worker's throughput levels off (micro-batching):
    #: measured with `python -m load_tests.bench.overload --sweep`, throughput at 8, 16, 32 and 64 concurrent
    #: requests was within noise of each other while p99 grew with the queue (21, 65, 103, 173 ms).
    max_concurrency: int = Field(default=32, ge=1)
    workers: int = Field(default=1, ge=1)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    #: Identifies the process in prediction records; the default is recomputed in every worker.
    instance: str = Field(default_factory=_default_instance)

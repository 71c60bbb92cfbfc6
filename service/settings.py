"""The gateway's settings: everything in :class:`CanarylineSettings` plus what only serving needs.

The token rules are validators here, so ``canaryline serve`` (before BentoML starts) and every worker
(when it builds its runtime) refuse the same settings with the same message:

- each token that is set has at least 16 characters and no whitespace or control characters (tokens are
  compared exactly, never stripped, so a padded secret could never be presented);
- every token is required: admin (unless ``CANARYLINE_ADMIN_API=0``), read and feedback. With
  ``CANARYLINE_DEV=1`` a token may stay missing; what it guards is then open, and the gateway logs a
  warning per missing token at start.
"""

from __future__ import annotations

import os
import socket
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, model_validator

from registry_client.settings import CanarylineSettings

from .errors import StartupError

__all__ = ["MIN_TOKEN_LENGTH", "GatewaySettings", "ServeSettings"]

MIN_TOKEN_LENGTH = 16
_TOKENS = ("admin_token", "read_token", "feedback_token")


def _default_instance() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _variable(field: str) -> str:
    return f"CANARYLINE_{field.upper()}"


class ServeSettings(CanarylineSettings):
    """What BentoML needs when it imports the service (``bentoml serve``, ``bentoml build``): the worker
    count and the homes, no token rules."""

    workers: int = Field(default=1, ge=1)


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
    #: Mount the admin (control-plane) API; it needs ``admin_token`` unless ``dev``.
    admin_api: bool = True
    #: A dev setup: tokens may be missing (what each guards is then open; a warning is logged per token).
    dev: bool = False
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

    @classmethod
    def from_env(cls) -> GatewaySettings:
        """The settings from ``CANARYLINE_*``; StartupError with one line naming every problem."""
        try:
            return cls()
        except ValidationError as exc:
            problems = []
            for error in exc.errors(include_url=False, include_input=False):
                message = str(error["msg"]).removeprefix("Value error, ")
                field = ".".join(str(part) for part in error["loc"])
                problems.append(f"{_variable(field)}: {message}" if field else message)
            raise StartupError("refusing to start: " + "; ".join(problems)) from None

    @model_validator(mode="after")
    def _token_rules(self) -> GatewaySettings:
        for field in _TOKENS:
            secret: SecretStr | None = getattr(self, field)
            if secret is not None and not _acceptable(secret.get_secret_value()):
                raise ValueError(
                    f"{_variable(field)} must be at least {MIN_TOKEN_LENGTH} characters of visible ASCII, "
                    "with no spaces or control characters (it is compared exactly)"
                )
        missing = self.missing_tokens()
        if missing and not self.dev:
            hint = " (or CANARYLINE_ADMIN_API=0 to run without the admin API)" if "admin_token" in missing else ""
            raise ValueError(
                f"{', '.join(_variable(f) for f in missing)} {'is' if len(missing) == 1 else 'are'} not set: "
                f"set {'it' if len(missing) == 1 else 'each'} to a random secret of at least {MIN_TOKEN_LENGTH} "
                f"characters{hint}, or CANARYLINE_DEV=1 for a dev setup"
            )
        return self

    def missing_tokens(self) -> list[str]:
        """The token fields this gateway needs and lacks (only a dev setup may start so)."""
        needed = [f for f in _TOKENS if f != "admin_token" or self.admin_api]
        return [f for f in needed if getattr(self, f) is None]


def _acceptable(token: str) -> bool:
    return len(token) >= MIN_TOKEN_LENGTH and all("!" <= char <= "~" for char in token)

"""Every setting canaryline reads, and the one place that reads the environment (``CANARYLINE_*``).

- :class:`CanarylineSettings`: what the registry, the stores, the CLI and the gateway share — the home, the
  store URL (typed: a scheme no store speaks is refused when the settings are read, and the URL is shown
  without its credentials), BentoML's model store, the Redis store's bounds, the gateway the CLI talks to
  and the tokens it presents.
- :class:`GatewaySettings`: what serving needs on top, with the token rules as validators, so
  ``canaryline serve`` (before BentoML starts) and every worker refuse the same settings with the same
  one-line message (:meth:`GatewaySettings.from_env`):

  - each token that is set has at least 16 characters and no whitespace or control characters (tokens are
    compared exactly, never stripped, so a padded secret could never be presented);
  - every token is required: admin (unless ``CANARYLINE_ADMIN_API=0``), read and feedback. With
    ``CANARYLINE_DEV=1`` a token may stay missing; what it guards is then open, and the gateway logs a
    warning per missing token at start.
- :class:`SinkSettings`: what ``canaryline sink`` needs on top: the PostgreSQL database it drains the
  Redis store (``CANARYLINE_STORE``) into, and its batch, wait and claim bounds (``CANARYLINE_SINK_*``).
- :class:`ServeSettings`: what BentoML needs when it imports the service (``bentoml serve``, ``bentoml
  build``): the worker count and the homes, no token rules.

Tests pass values to the constructors instead of patching the environment.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AliasChoices,
    AnyUrl,
    Field,
    SecretStr,
    UrlConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from registry_client.errors import StartupError

__all__ = [
    "MIN_TOKEN_LENGTH",
    "STORE_SCHEMES",
    "CanarylineSettings",
    "GatewaySettings",
    "ServeSettings",
    "SinkSettings",
    "StoreUrl",
    "redact_url",
]

MIN_TOKEN_LENGTH = 16
_TOKENS = ("admin_token", "read_token", "feedback_token")
#: The URL schemes a store speaks: SQLite (embedded), Redis (TCP, TLS or a Unix socket), PostgreSQL.
STORE_SCHEMES = ("sqlite", "redis", "rediss", "unix", "postgresql", "postgres")
StoreUrl = Annotated[AnyUrl, UrlConstraints(allowed_schemes=list(STORE_SCHEMES))]


def redact_url(url: str) -> str:
    """``url`` without its credentials (``redis://:secret@host`` → ``redis://host``), for messages and logs."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    return f"{scheme}{sep}{authority.rpartition('@')[2]}{slash}{path}"


class CanarylineSettings(BaseSettings):
    """``CANARYLINE_*`` variables shared by the registry, the stores, the CLI and the gateway."""

    # Errors never echo the input: it holds the tokens and the store's credentials.
    model_config = SettingsConfigDict(
        env_prefix="CANARYLINE_", env_nested_delimiter="__", extra="ignore", hide_input_in_errors=True
    )

    home: Path = Field(default_factory=lambda: Path.home() / "canaryline")
    #: ``sqlite:///PATH``, ``redis://HOST:PORT/DB`` (``rediss://``, ``unix://``),
    #: ``postgresql://USER:PASSWORD@HOST:PORT/DATABASE``; unset: SQLite under ``home``.
    store: StoreUrl | None = None
    #: BentoML's model store (``BENTOML_HOME``, no prefix); unset means ``home/bentoml``, so one home holds both.
    bentoml_home: Path | None = Field(default=None, validation_alias=AliasChoices("bentoml_home", "BENTOML_HOME"))
    #: The Redis store keeps each model's prediction log in a stream trimmed to about this many entries.
    redis_stream_maxlen: int = Field(default=1_000_000, ge=1_000)
    #: How long the Redis store keeps the request index and outcomes: feedback for an older request is a 404.
    redis_index_ttl_s: int = Field(default=7 * 24 * 3600, ge=60)
    #: The PostgreSQL store drops day partitions of predictions older than this many days (``canaryline
    #: retention``), with the outcomes of the requests they held; unset: keep everything.
    retention_days: int | None = Field(default=None, ge=1)
    #: Seconds a store call may take (connect, and each answer) before the store counts as unavailable.
    store_timeout_s: float = Field(default=2.0, gt=0)
    #: Where version archives live for a fleet (``file:///PATH``, ``s3://BUCKET/PREFIX``, ``gs://…``: any fsspec
    #: URL); registering uploads there and a gateway lacking a version pulls it. Unset: versions stay in the
    #: local BentoML model store (``artifact_uri`` ``bentoml:NAME:VERSION``), for one node.
    artifacts: str | None = None
    #: Options of the artifact store's fsspec backend, as JSON (``{"endpoint_url": "http://minio:9000"}`` for an
    #: S3-compatible server); used to upload and to pull. Credentials are better left to the backend's own
    #: variables (``AWS_ACCESS_KEY_ID``, …).
    artifacts_options: dict[str, Any] = Field(default_factory=dict)
    #: Bytes of pulled versions a node keeps in its BentoML model store; beyond it, the oldest pulled versions no
    #: plan uses are deleted (they can be pulled again). Unset: keep every pulled version.
    artifact_cache_bytes: int | None = Field(default=None, ge=1 << 20)
    #: Largest model file ``canaryline register`` accepts, and largest archive a gateway pulls.
    max_model_file_bytes: int = Field(default=1 << 30, ge=1024)
    #: Base URL of a gateway. Control-plane changes go to it (``http://127.0.0.1:3000`` when unset); ``status``
    #: and ``history`` ask it when set, and read the store when not.
    gateway: str | None = None
    #: Bearer tokens: the admin token changes plans (and reads them); the read token reads plans,
    #: history and ``/models``; the feedback token posts ground truth. The CLI sends the one each call needs.
    admin_token: SecretStr | None = None
    read_token: SecretStr | None = None
    feedback_token: SecretStr | None = None
    #: The Chromium (or Chrome) executable ``canaryline eval --png`` draws the charts in, headless; unset:
    #: Debian's ``/usr/bin/chromium``, else ``chromium`` on ``PATH`` (see :meth:`chromium_path`).
    chromium: Path | None = None

    @classmethod
    def from_env(cls, *, refusing: str = "refusing to start") -> Self:
        """The settings from ``CANARYLINE_*``; StartupError with one line naming every problem (never a value)."""
        try:
            return cls()
        except ValidationError as exc:
            problems = []
            for error in exc.errors(include_url=False, include_input=False):
                message = str(error["msg"]).removeprefix("Value error, ")
                field = ".".join(str(part) for part in error["loc"])
                problems.append(f"{_variable(field)}: {message}" if field else message)
            raise StartupError(f"{refusing}: " + "; ".join(problems)) from None

    @field_validator("store", "artifacts", mode="before")
    @classmethod
    def _unset(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("artifacts")
    @classmethod
    def _artifact_url(cls, value: str | None) -> str | None:
        if value is not None and "://" not in value:
            raise ValueError("must be a URL such as file:///srv/artifacts or s3://bucket/prefix")
        return value

    def model_store(self) -> Path:
        """BentoML's model store in force: ``BENTOML_HOME`` when set, else ``home/bentoml``."""
        return (self.bentoml_home or self.home / "bentoml").resolve()

    def use_model_store(self) -> Path:
        """Point BentoML at :meth:`model_store` (it reads ``BENTOML_HOME`` on first use); the folder in force."""
        folder = self.model_store()
        os.environ["BENTOML_HOME"] = str(folder)
        return folder

    def store_url(self) -> str:
        """The store URL in force: the explicit one, else the embedded SQLite file under ``home``."""
        if self.store is not None:
            return str(self.store)
        return f"sqlite:///{(self.home / 'canaryline.db').resolve()}"

    def chromium_path(self) -> Path | None:
        """The Chromium in force: :attr:`chromium`, else ``/usr/bin/chromium``, else ``chromium`` on ``PATH``."""
        if self.chromium is not None:
            return self.chromium
        if os.access("/usr/bin/chromium", os.X_OK):
            return Path("/usr/bin/chromium")
        found = shutil.which("chromium")
        return None if found is None else Path(found)

    def shown_store_url(self) -> str:
        """:meth:`store_url` without credentials: what messages and logs show."""
        return redact_url(self.store_url())


PostgresUrl = Annotated[AnyUrl, UrlConstraints(allowed_schemes=["postgresql", "postgres"])]


def _default_consumer() -> str:
    return f"sink-{socket.gethostname()}-{os.getpid()}"


class SinkSettings(CanarylineSettings):
    """``canaryline sink``: drains the Redis store's streams into PostgreSQL through a consumer group."""

    #: The PostgreSQL database the sink writes (``postgresql://USER:PASSWORD@HOST:PORT/DATABASE``): the
    #: analysts' store of record. Required.
    sink_dsn: PostgresUrl | None = None
    #: The consumer group the sinks share (each entry goes to one of them); not the ``canaryline`` group,
    #: which is left to other readers.
    sink_group: str = Field(default="canaryline-sink", min_length=1)
    #: This sink's name in the group. Give a restarted sink its old name (a pod's name) and it takes up its
    #: own unacknowledged entries at once; a new name leaves them to be claimed after ``sink_claim_idle_ms``.
    sink_consumer: str = Field(default_factory=_default_consumer, min_length=1)
    #: Most entries read, held and written (one COPY) at once: the bound on the sink's memory.
    sink_batch: int = Field(default=2000, ge=1, le=100_000)
    #: How long one read waits for new entries (ms); also how soon a SIGTERM is noticed while idle.
    sink_block_ms: int = Field(default=1000, ge=1, le=60_000)
    #: When a read brings less than a batch, wait this long (ms) for more before writing: fewer, larger
    #: transactions under light load, at the cost of this much delay before a record is in PostgreSQL.
    sink_linger_ms: int = Field(default=200, ge=0, le=10_000)
    #: Entries left unacknowledged this long by another consumer (a dead sink) are claimed (XAUTOCLAIM).
    sink_claim_idle_ms: int = Field(default=30_000, ge=1)
    #: Seconds each PostgreSQL statement (and connecting) may take: a batch's COPY is larger than a call's.
    sink_timeout_s: float = Field(default=30.0, gt=0)
    #: Longest pause between retries while PostgreSQL or Redis is unreachable (the pause doubles from 0.1 s).
    sink_retry_max_s: float = Field(default=5.0, gt=0)
    #: Seconds between checks for plan changes to copy (plans and their audit) into PostgreSQL.
    sink_plans_s: float = Field(default=1.0, gt=0)
    #: Serve the sink's Prometheus metrics on this port (``/metrics``); unset: none.
    sink_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    #: The address the metrics are served on (``0.0.0.0`` for a scraper in another pod).
    sink_metrics_host: str = "127.0.0.1"
    #: Seconds between automatic retention runs when ``CANARYLINE_RETENTION_DAYS`` is set (0: never).
    sink_retention_every_s: float = Field(default=3600.0, ge=0)


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
    #: Longest string a named input may hold (a field's own ``max_length`` may only lower it).
    max_string_length: int = Field(default=16384, ge=1)
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
    #: Data-plane requests each worker answers at once; more are refused 503 with Retry-After
    #: (service/rest/overload.py).
    #: 32 is four times the 8 concurrent requests at which one worker's throughput levels off (micro-batching):
    #: measured with `python -m load_tests.bench.overload --sweep`, throughput at 8, 16, 32 and 64 concurrent
    #: requests was within noise of each other while p99 grew with the queue (21, 65, 103, 173 ms).
    max_concurrency: int = Field(default=32, ge=1)
    workers: int = Field(default=1, ge=1)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    #: Run the rollout controller in this gateway (one gateway per store drives, by lease; the others wait).
    rollout_controller: bool = True
    #: Seconds between the controller's ticks, and how long its lease lasts without renewal (a leader killed
    #: with SIGKILL is replaced within about one lease).
    rollout_tick_s: float = Field(default=5.0, gt=0)
    rollout_lease_s: float = Field(default=15.0, gt=0)
    #: Where each rollout decision is POSTed as JSON (retried with backoff); unset: no webhook.
    rollout_webhook: str | None = None
    #: Seconds between flushes of the request counts (served and failed per revision) to the store.
    request_counts_flush_s: float = Field(default=1.0, gt=0)
    #: Identifies the process in prediction records; the default is recomputed in every worker.
    instance: str = Field(default_factory=_default_instance)
    #: The PostgreSQL database ``canaryline sink`` drains this gateway's Redis store into (its
    #: ``CANARYLINE_SINK_DSN``). Feedback for a request the Redis store no longer indexes (older than
    #: ``CANARYLINE_REDIS_INDEX_TTL_S``) is looked up there and its outcome stored there, so labels of any age
    #: are joined. Unset: such feedback is a 404.
    history_dsn: PostgresUrl | None = None

    @field_validator("history_dsn", mode="before")
    @classmethod
    def _no_history(cls, value: Any) -> Any:
        return None if value == "" else value

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

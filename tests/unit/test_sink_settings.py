"""Sink settings: a PostgreSQL DSN only, bounded batches, and a consumer name unique per process by default."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from registry_client.settings import SinkSettings


def test_the_sink_writes_only_to_a_postgresql_dsn() -> None:
    """A postgresql:// DSN is accepted; a Redis or SQLite URL as the sink's target is refused."""
    dsn = "postgresql://canary:s3cret@db.internal:5432/canaryline"
    assert str(SinkSettings(sink_dsn=dsn).sink_dsn) == dsn
    for url in ("redis://127.0.0.1:6379/0", "sqlite:///tmp/x.db"):
        with pytest.raises(ValidationError, match="sink_dsn"):
            SinkSettings(sink_dsn=url)


def test_defaults_bound_memory_and_name_the_consumer_per_process() -> None:
    """No DSN until one is set; the batch is bounded; the default consumer name carries the pid."""
    settings = SinkSettings()
    assert settings.sink_dsn is None
    assert (settings.sink_group, settings.sink_batch) == ("canaryline-sink", 2000)
    assert settings.sink_consumer.endswith(f"-{os.getpid()}")
    for bad in ({"sink_batch": 0}, {"sink_batch": 1_000_000}, {"sink_block_ms": 0}, {"sink_timeout_s": 0}):
        with pytest.raises(ValidationError):
            SinkSettings(**bad)  # type: ignore[arg-type]

"""Store settings: a PostgreSQL URL is a store URL, shown without credentials; retention is a positive limit."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from registry_client.errors import StartupError
from registry_client.settings import CanarylineSettings, GatewaySettings


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_a_postgresql_url_selects_the_store_and_hides_its_password(scheme: str) -> None:
    """Both PostgreSQL schemes are store URLs; what messages show has no user or password."""
    settings = CanarylineSettings(store=f"{scheme}://canary:s3cret@db.internal:5432/canaryline")
    assert settings.store_url() == f"{scheme}://canary:s3cret@db.internal:5432/canaryline"
    assert settings.shown_store_url() == f"{scheme}://db.internal:5432/canaryline"


def test_retention_is_unset_by_default_and_at_least_one_day() -> None:
    """Nothing is dropped unless a limit is set, and a limit below one day is refused."""
    assert CanarylineSettings().retention_days is None
    assert CanarylineSettings(retention_days=30).retention_days == 30
    with pytest.raises(ValidationError, match="retention_days"):
        CanarylineSettings(retention_days=0)


@pytest.mark.parametrize(
    ("value", "problem"),
    [("redis://localhost:6379/0", "URL scheme should be 'postgresql' or 'postgres'"), ("not a url", "URL")],
)
def test_the_history_database_is_a_postgresql_url_or_unset(
    monkeypatch: pytest.MonkeyPatch, value: str, problem: str
) -> None:
    """CANARYLINE_HISTORY_DSN empty means unset; any other scheme (or no URL at all) refuses to start, naming it."""
    monkeypatch.setenv("CANARYLINE_DEV", "1")
    monkeypatch.setenv("CANARYLINE_HISTORY_DSN", "")
    assert GatewaySettings.from_env().history_dsn is None
    monkeypatch.setenv("CANARYLINE_HISTORY_DSN", value)
    with pytest.raises(StartupError, match="CANARYLINE_HISTORY_DSN") as refused:
        GatewaySettings.from_env()
    assert problem in str(refused.value) and value not in str(refused.value)

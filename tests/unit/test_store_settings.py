"""Store settings: a PostgreSQL URL is a store URL, shown without credentials; retention is a positive limit."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from registry_client.settings import CanarylineSettings


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

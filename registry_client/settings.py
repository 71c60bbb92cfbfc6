"""Settings shared by the registry, the CLI and the gateway: the one place that reads the environment."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["CanarylineSettings"]


class CanarylineSettings(BaseSettings):
    """``CANARYLINE_*`` variables; pass values to the constructor in tests instead of patching."""

    # Errors never echo the input: it holds the tokens.
    model_config = SettingsConfigDict(
        env_prefix="CANARYLINE_", env_nested_delimiter="__", extra="ignore", hide_input_in_errors=True
    )

    home: Path = Field(default_factory=lambda: Path.home() / "canaryline")
    #: ``sqlite:///PATH`` or ``redis://HOST:PORT/DB``; empty means SQLite under ``home``.
    store: str = ""
    #: Base URL of a gateway, for the control-plane commands of the CLI.
    gateway: str = "http://127.0.0.1:3000"
    #: Bearer tokens: the admin token changes plans (and reads them); the read token reads plans,
    #: history and ``/models``; the feedback token posts ground truth. The CLI sends the one each call needs.
    admin_token: SecretStr | None = None
    read_token: SecretStr | None = None
    feedback_token: SecretStr | None = None

    def store_url(self) -> str:
        """The store URL in force: the explicit one, else the embedded SQLite file under ``home``."""
        if self.store:
            return self.store
        return f"sqlite:///{(self.home / 'canaryline.db').resolve()}"

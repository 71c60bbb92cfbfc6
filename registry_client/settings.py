"""Settings shared by the registry, the CLI and the gateway: the one place that reads the environment."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
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
    #: BentoML's model store (``BENTOML_HOME``, no prefix); unset means ``home/bentoml``, so one home holds both.
    bentoml_home: Path | None = Field(default=None, validation_alias=AliasChoices("bentoml_home", "BENTOML_HOME"))
    #: Base URL of a gateway. Control-plane changes go to it (``http://127.0.0.1:3000`` when unset); ``status``
    #: and ``history`` ask it when set, and read the store when not.
    gateway: str | None = None
    #: Bearer tokens: the admin token changes plans (and reads them); the read token reads plans,
    #: history and ``/models``; the feedback token posts ground truth. The CLI sends the one each call needs.
    admin_token: SecretStr | None = None
    read_token: SecretStr | None = None
    feedback_token: SecretStr | None = None

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
        if self.store:
            return self.store
        return f"sqlite:///{(self.home / 'canaryline.db').resolve()}"

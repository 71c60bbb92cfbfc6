"""One invocation of ``canaryline``: its settings, read once, and what the commands build from them."""

from __future__ import annotations

import getpass
import re
import socket
from dataclasses import dataclass, field

import typer

from registry_client.client.gateway import GatewayClient
from registry_client.registry.registry import Registry
from registry_client.settings import CanarylineSettings

__all__ = ["DEFAULT_GATEWAY", "Invocation", "actor", "invocation"]

DEFAULT_GATEWAY = "http://127.0.0.1:3000"


@dataclass
class Invocation:
    """The settings of this invocation (read once, by the app's callback) and the registry over its store."""

    settings: CanarylineSettings
    _registry: Registry | None = field(default=None, repr=False)

    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = Registry.from_settings(self.settings)
        return self._registry

    def asks_gateway(self, gateway: str | None) -> bool:
        """Whether a read names a gateway (``--gateway`` or ``$CANARYLINE_GATEWAY``); else it reads the store."""
        return bool(gateway or self.settings.gateway)

    def client(self, gateway: str | None) -> GatewayClient:
        """A client of ``gateway`` (else the settings', else the local one) presenting each endpoint's token."""
        secrets = (self.settings.admin_token, self.settings.read_token, self.settings.feedback_token)
        admin, read, feedback = (s.get_secret_value() if s is not None else None for s in secrets)
        return GatewayClient(
            gateway or self.settings.gateway or DEFAULT_GATEWAY,
            token=admin,
            read_token=read,
            feedback_token=feedback,
            actor=actor(),
        )

    def close(self) -> None:
        if self._registry is not None:
            self._registry.store.close()


def invocation(ctx: typer.Context) -> Invocation:
    """The invocation the app's callback put on the click context."""
    found = ctx.find_object(Invocation)
    assert found is not None, "the canaryline app's callback sets the invocation up"
    return found


def actor() -> str:
    """``user@host`` with the characters the actor rule refuses replaced, as the audit records it."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    actor = re.sub(r"[^A-Za-z0-9._@:+-]", "-", f"{user}@{socket.gethostname()}")[:64]
    return actor or "cli"

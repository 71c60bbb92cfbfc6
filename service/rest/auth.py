"""Bearer tokens: who may change plans, read them, and post ground truth.

Three roles, each a :class:`TokenGate` built from the settings:

- **admin** (``CANARYLINE_ADMIN_TOKEN``): every mutation of a plan;
- **read** (``CANARYLINE_READ_TOKEN``, or the admin token): ``GET /models``, ``GET /models/{m}``,
  ``GET /models/{m}/evaluation`` and the admin API's plan and history, which name actors and reasons;
- **feedback** (``CANARYLINE_FEEDBACK_TOKEN`` only): ``POST /feedback``, since whoever posts an outcome
  decides a version's measured accuracy.

Predictions on every protocol, health, ``/metrics``, the protocols' model metadata (names, shapes) and
the console's static files under ``/ui`` (which hold no data) need no token. The presented token must
equal a configured one exactly (``hmac.compare_digest`` against every accepted token, no stripping); the
settings refuse tokens a client could not present exactly.
A gate without tokens is open: only a dev setup (``CANARYLINE_DEV=1``) starts so.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import SecretStr

from registry_client.errors import UnauthorizedError
from registry_client.settings import GatewaySettings

__all__ = ["Gates", "TokenGate"]


@dataclass(frozen=True, slots=True)
class TokenGate:
    realm: str
    #: What to present, for the 401 message (names variables, never values).
    wanted: str
    tokens: tuple[bytes, ...]

    @property
    def open(self) -> bool:
        return not self.tokens

    def check(self, headers: Mapping[str, str]) -> None:
        """Pass when ``Authorization: Bearer <token>`` carries an accepted token exactly; else 401."""
        if self.open:
            return
        scheme, _, presented = headers.get("authorization", "").partition(" ")
        candidate = presented.encode()
        matched = False
        for token in self.tokens:  # every token is compared: the time taken does not tell which one matched
            matched |= hmac.compare_digest(candidate, token)
        if scheme.lower() != "bearer" or not matched:
            raise UnauthorizedError(
                f"a valid 'Authorization: Bearer <{self.wanted}>' header is required", realm=self.realm
            )


@dataclass(frozen=True, slots=True)
class Gates:
    admin: TokenGate
    read: TokenGate
    feedback: TokenGate

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> Gates:
        admin = _secret(settings.admin_token)
        read = _secret(settings.read_token)
        return cls(
            admin=TokenGate("canaryline-admin", "CANARYLINE_ADMIN_TOKEN", admin),
            # Without a read token (dev), reads are open even when an admin token is set.
            read=TokenGate(
                "canaryline-read", "CANARYLINE_READ_TOKEN or CANARYLINE_ADMIN_TOKEN", read + admin if read else ()
            ),
            feedback=TokenGate("canaryline-feedback", "CANARYLINE_FEEDBACK_TOKEN", _secret(settings.feedback_token)),
        )


def _secret(value: SecretStr | None) -> tuple[bytes, ...]:
    return (value.get_secret_value().encode(),) if value is not None else ()

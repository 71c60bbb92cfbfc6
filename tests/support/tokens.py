"""The bearer tokens every test gateway runs with (each at least 16 characters, as the gateway demands)."""

from __future__ import annotations

from typing import Final, TypedDict

ADMIN_TOKEN = "test-admin-token-0123"
READ_TOKEN = "test-read-token-0123"
FEEDBACK_TOKEN = "test-feedback-token-0123"


class TokenSettings(TypedDict):
    """The GatewaySettings keyword arguments that set all three tokens."""

    admin_token: str
    read_token: str
    feedback_token: str


#: GatewaySettings keyword arguments for all three tokens.
TOKEN_SETTINGS: Final[TokenSettings] = {
    "admin_token": ADMIN_TOKEN,
    "read_token": READ_TOKEN,
    "feedback_token": FEEDBACK_TOKEN,
}
#: The same as CANARYLINE_* environment variables, for gateway processes and the CLI.
TOKEN_ENV = {
    "CANARYLINE_ADMIN_TOKEN": ADMIN_TOKEN,
    "CANARYLINE_READ_TOKEN": READ_TOKEN,
    "CANARYLINE_FEEDBACK_TOKEN": FEEDBACK_TOKEN,
}


def bearer(token: str) -> dict[str, str]:
    """The Authorization header presenting ``token``."""
    return {"Authorization": f"Bearer {token}"}

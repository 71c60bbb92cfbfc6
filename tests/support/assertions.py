"""Assertions on the gateway's answers shared by the ASGI-level tests."""

from __future__ import annotations

from typing import Any

import httpx


def assert_error(response: httpx.Response, status: int, code: str, message: str) -> dict[str, Any]:
    """A refusal has the one error shape, with the call's request ID in the body and the header; ``message``
    is part of its message. Returns the body."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "request_id"}
    assert body["error"]["code"] == code
    assert message in body["error"]["message"], body["error"]["message"]
    assert response.headers["x-request-id"] == body["error"]["request_id"]
    return body

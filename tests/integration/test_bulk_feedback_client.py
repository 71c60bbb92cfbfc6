"""Posting ground truth in bulk over the real network: what happens when the gateway cannot be reached."""

from __future__ import annotations

import pytest

from registry_client.client.bulk_feedback import FeedbackLine, post_feedback_lines
from registry_client.client.gateway import GatewayClient
from registry_client.errors import GatewayClientError
from tests.support.servers import free_port


def test_posting_stops_when_the_gateway_is_unreachable() -> None:
    """Against a port nobody listens on, posting stops early and raises 503 'unreachable'."""
    lines = (FeedbackLine(i, f"r{i}", 1) for i in range(1, 10_000))
    with (
        GatewayClient(f"http://127.0.0.1:{free_port()}", timeout=2) as client,
        pytest.raises(GatewayClientError, match="stopped after 0 accepted lines") as caught,
    ):
        post_feedback_lines(client, lines, concurrency=2)
    assert (caught.value.status, caught.value.code) == (503, "unreachable")
    assert next(lines).line < 100  # it stopped reading the file instead of trying every line

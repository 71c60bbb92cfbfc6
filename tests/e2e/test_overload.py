"""The per-worker concurrency limit on a real gateway: 503 with Retry-After beyond it, never at or below it.

Requests are held in flight deterministically: a raw socket sends a request's headers and half its body,
so the request sits in the gateway (reading its body) until the test sends the rest.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import orjson
import pytest

from registry_client.registry.registry import Registry
from registry_client.store import open_store
from tests.support.load import ROW, Load
from tests.support.servers import GatewayProcess, wait_until
from tests.support.tokens import ADMIN_TOKEN, READ_TOKEN, bearer

pytestmark = pytest.mark.e2e
LIMIT = 4


class Held:
    """One request whose body is only half sent: in flight in the gateway until :meth:`finish`."""

    def __init__(self, gateway: GatewayProcess, path: str, body: bytes) -> None:
        self.body = body
        self.sock = socket.create_connection(("127.0.0.1", gateway.port), timeout=15)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self.sock.sendall(head.encode() + body[: len(body) // 2])

    def answered(self) -> bool:
        """True when the gateway already answered (it shed this request because a probe took the last slot)."""
        self.sock.setblocking(False)
        try:
            return bool(self.sock.recv(1, socket.MSG_PEEK))
        except BlockingIOError:
            return False
        finally:
            self.sock.settimeout(15)

    def finish(self) -> int:
        """Send the rest of the body; the answer's status."""
        self.sock.sendall(self.body[len(self.body) // 2 :])
        status = int(self.sock.makefile("rb").readline().split()[1])
        self.sock.close()
        return status


def fill_to_the_limit(gateway: GatewayProcess, client: httpx.Client, held: list[Held], body: bytes) -> None:
    """Hold requests until a probe is refused; a held request that raced a probe and was shed is replaced."""

    def full() -> bool:
        if client.post("/predict", content=body).status_code == 503:
            return True
        for request in [h for h in held if h.answered()]:
            held.remove(request)
            request.sock.close()
        held.extend(Held(gateway, "/predict", body) for _ in range(LIMIT - len(held)))
        return False

    held.extend(Held(gateway, "/predict", body) for _ in range(LIMIT - len(held)))
    wait_until(full, 10, "the limit to be reached")


@contextmanager
def holding(gateway: GatewayProcess, count: int, body: bytes) -> Iterator[list[Held]]:
    held = [Held(gateway, "/predict", body) for _ in range(count)]
    try:
        yield held
    finally:
        for request in held:
            request.sock.close()


def shed_total(client: httpx.Client, endpoint: str) -> float:
    pattern = rf'^canaryline_requests_shed_total\{{endpoint="{re.escape(endpoint)}"\}} (\S+)$'
    found = re.search(pattern, client.get("/metrics").text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


@pytest.fixture
def gateway(gateway_factory, tmp_path: Path, model_name: str, iris_models) -> GatewayProcess:
    """A gateway on SQLite with CANARYLINE_MAX_CONCURRENCY=4, serving ``model_name``."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    Registry(open_store(url)).register(model_name, iris_models["logreg"])
    return gateway_factory(url, max_concurrency=str(LIMIT))


def test_requests_beyond_the_limit_get_503_and_none_at_or_below_it(gateway: GatewayProcess, model_name: str) -> None:
    """With 3 requests held in flight every further one is served (4 ≤ limit); with 4 held every /predict and
    /v2 infer is refused 503 (Retry-After: 1, counted per endpoint) while health, metrics, reads and the
    admin API still answer; finishing a held request makes room again."""
    body = orjson.dumps({"model": model_name, "inputs": [ROW]})
    with httpx.Client(base_url=gateway.url, timeout=15) as client, holding(gateway, LIMIT - 1, body) as held:
        assert [client.post("/predict", content=body).status_code for _ in range(20)] == [200] * 20

        fill_to_the_limit(gateway, client, held, body)
        refused = [client.post("/predict", content=body) for _ in range(10)]
        assert [r.status_code for r in refused] == [503] * 10
        assert all(r.headers["retry-after"] == "1" for r in refused)
        assert {r.json()["error"]["code"] for r in refused} == {"overloaded"}
        assert all(r.json()["error"]["request_id"] == r.headers["x-request-id"] for r in refused)
        v2 = client.post(f"/v2/models/{model_name}/infer", json={"inputs": []})
        assert v2.status_code == 503 and v2.headers["retry-after"] == "1" and isinstance(v2.json()["error"], str)
        assert shed_total(client, "/predict") >= 11 and shed_total(client, "/v2/models/{name}/infer") == 1

        for path in ("/livez", "/readyz", "/metrics"):
            assert client.get(path).status_code == 200, path
        assert client.get("/models", headers=bearer(READ_TOKEN)).status_code == 200
        admin = client.get(f"/admin/models/{model_name}/plan", headers=bearer(ADMIN_TOKEN))
        assert admin.status_code == 200

        assert held.pop().finish() == 200
        assert [client.post("/predict", content=body).status_code for _ in range(20)] == [200] * 20


def test_as_many_concurrent_clients_as_the_limit_are_never_refused(gateway: GatewayProcess, model_name: str) -> None:
    """4 clients posting back to back against a limit of 4: hundreds of answers, every one a 200."""
    with Load(gateway.url, model_name, concurrency=LIMIT, timeout=15) as load:
        wait_until(lambda: len(load.responses) >= 400, 30, "400 answers", 0.1)
    assert not load.failures, load.failures[:3]
    assert {r.status_code for r in load.responses} == {200}


def test_more_concurrent_clients_than_the_limit_are_partly_refused(gateway: GatewayProcess, model_name: str) -> None:
    """32 clients against a limit of 4: some are refused 503 (overloaded), every other answer is a 200."""
    with Load(gateway.url, model_name, concurrency=32, timeout=15) as load:
        wait_until(lambda: any(r.status_code == 503 for r in load.responses[-500:]), 30, "a 503", 0.1)
    assert not load.failures, load.failures[:3]
    assert {r.status_code for r in load.responses} == {200, 503}
    assert {r.json()["error"]["code"] for r in load.responses if r.status_code == 503} == {"overloaded"}

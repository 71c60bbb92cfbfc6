"""The traffic timeout that takes the place of BentoML's: a 504 in the gateway's error body when no answer has
started in time, and no timer left behind by a request that answered (the garbage-collection tail)."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from service.rest.timeout import RequestTimeoutMiddleware
from tests.support.bentoml_app import built_middleware


async def _quick(_request: Request) -> Response:
    return JSONResponse({"ok": True})


async def _stalled(_request: Request) -> Response:
    await asyncio.sleep(30)
    return JSONResponse({"ok": True})


def _live_timers() -> int:
    return sum(1 for o in gc.get_objects() if isinstance(o, asyncio.TimerHandle) and not o.cancelled())


def _app(timeout: float) -> Starlette:
    routes = [Route("/quick", _quick, methods=["POST"]), Route("/stalled", _stalled, methods=["POST"])]
    return Starlette(routes=routes, middleware=[Middleware(RequestTimeoutMiddleware, timeout=timeout)])


def test_a_request_with_no_answer_in_time_gets_504_in_the_gateway_error_body() -> None:
    """A handler still working when the timeout passes is cancelled and the client gets 504 ``timeout``."""
    with TestClient(_app(0.2)) as client:
        response = client.post("/stalled")
    assert response.status_code == 504, response.text
    error = response.json()["error"]
    assert error["code"] == "timeout" and "0.2 s" in error["message"]
    assert response.headers["x-request-id"] == error["request_id"]


def test_answered_requests_leave_no_timer_scheduled() -> None:
    """After 200 answered requests under a 60 s timeout, no live timer remains (BentoML's left one each)."""
    with TestClient(_app(60)) as client:
        before = _live_timers()
        for _ in range(200):
            assert client.post("/quick").status_code == 200
        after = _live_timers()
    assert after - before < 5, f"{after - before} live timers left behind by 200 requests"


def test_the_service_app_bentoml_builds_holds_this_timeout_in_place_of_its_own(tmp_path: Path) -> None:
    """BentoML's app factory, building the canaryline service's app, puts RequestTimeoutMiddleware where its own
    TimeoutMiddleware was (fails if a BentoML upgrade moves the class the factory imports)."""
    names = built_middleware(tmp_path)
    assert "RequestTimeoutMiddleware" in names and "TimeoutMiddleware" not in names, names

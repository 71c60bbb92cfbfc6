"""The rollout admin API, mounted under ``/admin/models/{model}/rollout`` with the admin API.

``GET`` (read token) answers the model's current rollout state; ``POST`` (admin token) starts one from a
spec (the fields of :class:`~registry_client.domain.rollout.RolloutSpec` but ``model`` and ``actor``, which
come from the path and ``X-Canaryline-Actor``); ``POST …/pause``, ``…/resume``, ``…/abort`` and
``…/promote`` (``{"reason", "force": true}``) act on it. Starting writes the spec only: the leading
gateway's controller applies the first step at its next tick.

``GET …/sequence`` (read token) answers the quality gate's confidence sequence over the rollout's window
(:func:`~registry_client.rollout.sequence.quality_sequence`, ``{"sequence": … | null}``), which the console's
rollout page draws against the margin; it reads the window once, as a controller tick does.

Every other answer is ``{"rollout": state, "weight": w}``: ``w`` is the canary weight of the current step (percent;
``null`` in the shadow phase or once ended), the one value of the state that is derived rather than stored,
so the console's rollout page does not re-derive it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from registry_client.domain.identifiers import new_id, request_id_header
from registry_client.domain.plan import first_error
from registry_client.domain.rollout import RolloutSpec, RolloutState
from registry_client.errors import InputError
from registry_client.rollout.commands import Rollouts
from registry_client.rollout.sequence import quality_sequence
from service.dataplane.plans import PlanTable
from service.dataplane.validation import load_json
from service.rest.admin import actor_of
from service.rest.http import check_path_names, json_response, read_body

__all__ = ["RolloutCommand", "routes"]

_MAX_BODY = 64 * 1024


class RolloutCommand(BaseModel):
    """The body of a rollout command (pause, resume, abort, promote)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    reason: str = Field(min_length=1, max_length=500)
    force: bool = False


def routes() -> list[BaseRoute]:
    base = "/admin/models/{model}/rollout"
    return [
        Route(base, _status, methods=["GET"]),
        Route(f"{base}/sequence", _sequence, methods=["GET"]),
        Route(base, _start, methods=["POST"]),
        *(Route(f"{base}/{command}", _command(command), methods=["POST"]) for command in _COMMANDS),
    ]


def _body(state: RolloutState) -> dict[str, Any]:
    return {"rollout": state.model_dump(mode="json"), "weight": state.weight}


def _answer(state: RolloutState, request_id: str) -> Response:
    return json_response(_body(state), headers=request_id_header(request_id))


async def _status(request: Request) -> Response:
    request.app.state.gates.read.check(request.headers)
    check_path_names(request.path_params)
    rollouts: Rollouts = request.app.state.rollouts
    state = await anyio.to_thread.run_sync(rollouts.get, request.path_params["model"])
    return json_response(_body(state))


async def _sequence(request: Request) -> Response:
    request.app.state.gates.read.check(request.headers)
    check_path_names(request.path_params)
    rollouts: Rollouts = request.app.state.rollouts

    def compute() -> dict[str, Any] | None:
        state = rollouts.get(request.path_params["model"])
        task = rollouts.registry.get(state.spec.model, state.spec.version).task
        return quality_sequence(rollouts.store, state, now=time.time(), task=task)

    return json_response({"sequence": await anyio.to_thread.run_sync(compute)})


async def _start(request: Request) -> Response:
    request_id = request.state.request_id = new_id()
    request.app.state.gates.admin.check(request.headers)
    check_path_names(request.path_params)
    payload = load_json(await read_body(request, _MAX_BODY) or b"{}")
    if not isinstance(payload, dict):
        raise InputError("the body must be a JSON object: the rollout spec")
    if "model" in payload or "actor" in payload:
        raise InputError("field model or actor: set by the path and X-Canaryline-Actor, not the body")
    try:
        spec = RolloutSpec.model_validate(
            {**payload, "model": request.path_params["model"], "actor": actor_of(request)}
        )
    except ValidationError as exc:
        raise InputError(f"field {first_error(exc)}") from exc
    rollouts: Rollouts = request.app.state.rollouts
    state = await anyio.to_thread.run_sync(lambda: rollouts.start(spec, now=time.time()))
    return _answer(state, request_id)


_COMMANDS: dict[str, Callable[[Rollouts, str, str, str, float], RolloutState]] = {
    "pause": lambda r, model, actor, reason, now: r.pause(model, actor=actor, reason=reason, now=now),
    "resume": lambda r, model, actor, reason, now: r.resume(model, actor=actor, reason=reason, now=now),
    "abort": lambda r, model, actor, reason, now: r.abort(model, actor=actor, reason=reason, now=now),
    "promote": lambda r, model, actor, reason, now: r.promote(model, actor=actor, reason=reason, now=now),
}


def _command(name: str) -> Callable[[Request], Awaitable[Response]]:
    action = _COMMANDS[name]

    async def endpoint(request: Request) -> Response:
        request_id = request.state.request_id = new_id()
        request.app.state.gates.admin.check(request.headers)
        actor = actor_of(request)
        check_path_names(request.path_params)
        body = _parse(await read_body(request, _MAX_BODY))
        if name == "promote" and not body.force:
            raise InputError("field force: promoting before the gates pass needs force: true (--force)")
        model = request.path_params["model"]
        rollouts: Rollouts = request.app.state.rollouts
        state = await anyio.to_thread.run_sync(lambda: action(rollouts, model, actor, body.reason, time.time()))
        plans: PlanTable = request.app.state.gateway.plans
        await anyio.to_thread.run_sync(plans.refresh)  # an abort or promote changed the plan: apply it here now
        return _answer(state, request_id)

    return endpoint


def _parse(raw: bytes) -> RolloutCommand:
    payload: Any = load_json(raw or b"{}")
    try:
        return RolloutCommand.model_validate(payload)
    except ValidationError as exc:
        raise InputError(f"field {first_error(exc)}") from exc

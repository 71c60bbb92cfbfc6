"""The admin (control-plane) HTTP API, mounted at ``/admin`` on the gateway.

Reads of the plan and history need the read (or admin) token, every mutation the admin token
(:mod:`service.rest.auth`). A mutation takes a ``reason`` and an optional ``expected_revision`` (409 when
the plan moved on), and records the actor from ``X-Canaryline-Actor``. After saving, this gateway
applies the new revision before answering; every other worker and replica picks it up from the store.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from registry_client.control import ControlPlane
from registry_client.domain.identifiers import ACTOR_PATTERN, new_id, request_id_header, valid_actor
from registry_client.domain.plan import AuditEntry, first_error
from registry_client.errors import BadRequestError, InputError
from service.dataplane.plans import PlanTable
from service.dataplane.validation import load_json
from service.rest.http import check_path_names, json_response, read_body

__all__ = ["BODIES", "CanaryBody", "MutationBody", "PromoteBody", "RollbackBody", "ShadowBody", "actor_of", "routes"]

_MAX_ADMIN_BODY = 64 * 1024


class MutationBody(BaseModel):
    # Strict: JSON ``true`` is not a weight of 1 %, ``"10"`` not 10, ``"yes"`` not true, ``"1"`` not revision 1.
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    reason: str = Field(min_length=1, max_length=500)
    expected_revision: int | None = Field(default=None, ge=1)


class PromoteBody(MutationBody):
    version: str = Field(min_length=1)


class CanaryBody(MutationBody):
    version: str = Field(min_length=1)
    weight: float
    sticky: bool = True


class ShadowBody(MutationBody):
    version: str = Field(min_length=1)
    sample: float = 100.0


class RollbackBody(MutationBody):
    to: str | None = None


Action = Callable[[ControlPlane, str, Any, str], AuditEntry]
#: Each mutation's body model, for the OpenAPI document.
BODIES: dict[str, type[MutationBody]] = {
    "mutation": MutationBody,
    "promote": PromoteBody,
    "canary": CanaryBody,
    "shadow": ShadowBody,
    "rollback": RollbackBody,
}


def routes() -> list[BaseRoute]:
    """The admin API's routes; the app mounts them only when the admin API is on."""
    base = "/admin/models/{model}"
    return [
        Route(f"{base}/plan", _read(_plan), methods=["GET"]),
        Route(f"{base}/history", _read(_history), methods=["GET"]),
        Route(f"{base}/promote", _mutate(PromoteBody, _promote), methods=["POST"]),
        Route(f"{base}/canary", _mutate(CanaryBody, _canary), methods=["POST"]),
        Route(f"{base}/canary/clear", _mutate(MutationBody, _clear_canary), methods=["POST"]),
        Route(f"{base}/shadow", _mutate(ShadowBody, _shadow), methods=["POST"]),
        Route(f"{base}/shadow/clear", _mutate(MutationBody, _clear_shadow), methods=["POST"]),
        Route(f"{base}/rollback", _mutate(RollbackBody, _rollback), methods=["POST"]),
    ]


# -- actions --------------------------------------------------------------------------------------------
def _plan(control: ControlPlane, model: str) -> dict[str, Any]:
    return {"plan": control.plan(model).model_dump(mode="json")}


def _history(control: ControlPlane, model: str) -> dict[str, Any]:
    return {"history": [entry.model_dump(mode="json") for entry in control.history(model)]}


def _promote(control: ControlPlane, model: str, body: PromoteBody, actor: str) -> AuditEntry:
    return control.promote(
        model, body.version, actor=actor, reason=body.reason, expected_revision=body.expected_revision
    )


def _canary(control: ControlPlane, model: str, body: CanaryBody, actor: str) -> AuditEntry:
    return control.set_canary(
        model,
        body.version,
        weight=body.weight,
        sticky=body.sticky,
        actor=actor,
        reason=body.reason,
        expected_revision=body.expected_revision,
    )


def _clear_canary(control: ControlPlane, model: str, body: MutationBody, actor: str) -> AuditEntry:
    return control.clear_canary(model, actor=actor, reason=body.reason, expected_revision=body.expected_revision)


def _shadow(control: ControlPlane, model: str, body: ShadowBody, actor: str) -> AuditEntry:
    return control.set_shadow(
        model,
        body.version,
        sample=body.sample,
        actor=actor,
        reason=body.reason,
        expected_revision=body.expected_revision,
    )


def _clear_shadow(control: ControlPlane, model: str, body: MutationBody, actor: str) -> AuditEntry:
    return control.clear_shadow(model, actor=actor, reason=body.reason, expected_revision=body.expected_revision)


def _rollback(control: ControlPlane, model: str, body: RollbackBody, actor: str) -> AuditEntry:
    return control.rollback(
        model, to=body.to, actor=actor, reason=body.reason, expected_revision=body.expected_revision
    )


# -- plumbing -------------------------------------------------------------------------------------------
def _read(action: Callable[[ControlPlane, str], dict[str, Any]]) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        request.app.state.gates.read.check(request.headers)
        check_path_names(request.path_params)
        control: ControlPlane = request.app.state.control
        return json_response(await anyio.to_thread.run_sync(action, control, request.path_params["model"]))

    return endpoint


def _mutate(body_type: type[MutationBody], action: Action) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        request_id = request.state.request_id = new_id()
        request.app.state.gates.admin.check(request.headers)
        actor = actor_of(request)
        check_path_names(request.path_params)
        body = _parse(body_type, await read_body(request, _MAX_ADMIN_BODY))
        model = request.path_params["model"]
        control: ControlPlane = request.app.state.control
        plans: PlanTable = request.app.state.gateway.plans
        entry = await anyio.to_thread.run_sync(action, control, model, body, actor)
        await anyio.to_thread.run_sync(plans.refresh)  # this worker applies it before answering
        applied = plans.get(model)
        return json_response(
            {
                "plan": entry.after.model_dump(mode="json"),
                "audit": entry.model_dump(mode="json"),
                "applied_revision": applied.plan.revision if applied else None,
                "apply_error": plans.errors.get(model),
            },
            headers=request_id_header(request_id),
        )

    return endpoint


def actor_of(request: Request) -> str:
    """Who is acting: ``X-Canaryline-Actor`` (checked against the actor rule), else ``admin``."""
    actor = request.headers.get("x-canaryline-actor")
    if actor is None:
        return "admin"
    if not valid_actor(actor):
        raise BadRequestError(f"header X-Canaryline-Actor must match {ACTOR_PATTERN}", code="invalid_header")
    return actor


def _parse(body_type: type[MutationBody], raw: bytes) -> MutationBody:
    payload = load_json(raw or b"{}")
    try:
        return body_type.model_validate(payload)
    except ValidationError as exc:
        raise InputError(f"field {first_error(exc)}") from exc

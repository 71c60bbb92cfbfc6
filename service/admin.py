"""The admin (control-plane) HTTP API, mounted at ``/admin`` on the gateway.

Reads of the plan and history need the read (or admin) token, every mutation the admin token
(:mod:`service.auth`). A mutation takes a ``reason`` and an optional ``expected_revision`` (409 when
the plan moved on), and records the actor from ``X-Canaryline-Actor``. After saving, this gateway
applies the new revision before answering; every other worker and replica picks it up from the store.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from registry_client.control import ControlPlane
from registry_client.errors import CanarylineError
from registry_client.plan import AuditEntry, first_error

from .auth import Gates
from .errors import BadRequestError, GatewayError, InputError
from .http import error_response, json_response, read_body
from .ids import new_id
from .plans import PlanTable
from .validation import load_json

__all__ = ["AdminApi"]

ACTOR_PATTERN = r"^[A-Za-z0-9._@:+-]{1,64}$"
_ACTOR_RE = re.compile(ACTOR_PATTERN)
_MAX_ADMIN_BODY = 64 * 1024


class _Mutation(BaseModel):
    # Strict: JSON ``true`` is not a weight of 1 %, ``"10"`` not 10, ``"yes"`` not true, ``"1"`` not revision 1.
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    reason: str = Field(min_length=1, max_length=500)
    expected_revision: int | None = Field(default=None, ge=1)


class _Promote(_Mutation):
    version: str = Field(min_length=1)


class _Canary(_Mutation):
    version: str = Field(min_length=1)
    weight: float
    sticky: bool = True


class _Shadow(_Mutation):
    version: str = Field(min_length=1)
    sample: float = 100.0


class _Rollback(_Mutation):
    to: str | None = None


class AdminApi:
    def __init__(self, control: ControlPlane, plans: PlanTable, gates: Gates) -> None:
        self.control = control
        self.plans = plans
        self.gates = gates

    def routes(self) -> list[Route]:
        base = "/admin/models/{model}"
        return [
            Route(f"{base}/plan", self._read(self._plan), methods=["GET"]),
            Route(f"{base}/history", self._read(self._history), methods=["GET"]),
            Route(f"{base}/promote", self._mutate(_Promote, self._promote), methods=["POST"]),
            Route(f"{base}/canary", self._mutate(_Canary, self._canary), methods=["POST"]),
            Route(f"{base}/canary/clear", self._mutate(_Mutation, self._clear_canary), methods=["POST"]),
            Route(f"{base}/shadow", self._mutate(_Shadow, self._shadow), methods=["POST"]),
            Route(f"{base}/shadow/clear", self._mutate(_Mutation, self._clear_shadow), methods=["POST"]),
            Route(f"{base}/rollback", self._mutate(_Rollback, self._rollback), methods=["POST"]),
        ]

    # -- actions -------------------------------------------------------------------------------
    def _plan(self, model: str) -> dict[str, Any]:
        return {"plan": self.control.plan(model).model_dump(mode="json")}

    def _history(self, model: str) -> dict[str, Any]:
        return {"history": [entry.model_dump(mode="json") for entry in self.control.history(model)]}

    def _promote(self, model: str, body: _Promote, actor: str) -> AuditEntry:
        return self.control.promote(
            model, body.version, actor=actor, reason=body.reason, expected_revision=body.expected_revision
        )

    def _canary(self, model: str, body: _Canary, actor: str) -> AuditEntry:
        return self.control.set_canary(
            model,
            body.version,
            weight=body.weight,
            sticky=body.sticky,
            actor=actor,
            reason=body.reason,
            expected_revision=body.expected_revision,
        )

    def _clear_canary(self, model: str, body: _Mutation, actor: str) -> AuditEntry:
        return self.control.clear_canary(
            model, actor=actor, reason=body.reason, expected_revision=body.expected_revision
        )

    def _shadow(self, model: str, body: _Shadow, actor: str) -> AuditEntry:
        return self.control.set_shadow(
            model,
            body.version,
            sample=body.sample,
            actor=actor,
            reason=body.reason,
            expected_revision=body.expected_revision,
        )

    def _clear_shadow(self, model: str, body: _Mutation, actor: str) -> AuditEntry:
        return self.control.clear_shadow(
            model, actor=actor, reason=body.reason, expected_revision=body.expected_revision
        )

    def _rollback(self, model: str, body: _Rollback, actor: str) -> AuditEntry:
        return self.control.rollback(
            model, to=body.to, actor=actor, reason=body.reason, expected_revision=body.expected_revision
        )

    # -- plumbing ------------------------------------------------------------------------------
    def _read(self, action: Callable[[str], dict[str, Any]]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                self.gates.read.check(request.headers)
                return json_response(await anyio.to_thread.run_sync(action, request.path_params["model"]))
            except (GatewayError, CanarylineError) as exc:
                return error_response(exc, new_id())

        return endpoint

    def _mutate(
        self, body_type: type[_Mutation], action: Callable[[str, Any, str], AuditEntry]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            request_id = new_id()
            try:
                self.gates.admin.check(request.headers)
                actor = self._actor(request)
                body = self._parse(body_type, await read_body(request, _MAX_ADMIN_BODY))
                model = request.path_params["model"]
                entry = await anyio.to_thread.run_sync(action, model, body, actor)
                await anyio.to_thread.run_sync(self.plans.refresh)
            except (GatewayError, CanarylineError) as exc:
                return error_response(exc, request_id)
            applied = self.plans.get(model)
            return json_response(
                {
                    "plan": entry.after.model_dump(mode="json"),
                    "audit": entry.model_dump(mode="json"),
                    "applied_revision": applied.plan.revision if applied else None,
                    "apply_error": self.plans.errors.get(model),
                },
                headers={"X-Request-ID": request_id},
            )

        return endpoint

    @staticmethod
    def _actor(request: Request) -> str:
        actor = request.headers.get("x-canaryline-actor")
        if actor is None:
            return "admin"
        if not _ACTOR_RE.fullmatch(actor):  # the whole value: `$` alone lets a trailing newline through
            raise BadRequestError(f"header X-Canaryline-Actor must match {ACTOR_PATTERN}", code="invalid_header")
        return actor

    @staticmethod
    def _parse(body_type: type[_Mutation], raw: bytes) -> _Mutation:
        payload = load_json(raw or b"{}")
        try:
            return body_type.model_validate(payload)
        except ValidationError as exc:
            raise InputError(f"field {first_error(exc)}") from exc

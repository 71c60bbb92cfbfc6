"""The gateway's own OpenAPI 3.1 document, at ``GET /openapi.json`` and at BentoML's ``/docs.json``.

Built from :data:`service.rest.api_operations.OPERATIONS` and the pydantic models of the bodies
(``model_json_schema``, JSON Schema 2020-12 as OpenAPI 3.1 takes it), for the routes this gateway's app
has mounted (the admin and rollout routes only when the admin API is on) and the ones BentoML answers
around it (``/livez``, ``/healthz``, ``/readyz``, ``/metrics``). Security: three bearer schemes, one per
token of :mod:`service.rest.auth`; a read route takes the read or the admin token. Each error answer
is its protocol's one body: :class:`~service.rest.api_schemas.ProtocolError` under ``/v2`` and ``/v1``,
:class:`~service.rest.api_schemas.NativeError` elsewhere.

``/docs.json`` is BentoML's own route (it described only its health routes): :class:`DocsAliasMiddleware`
answers it with this document, so BentoML's ``/docs`` page (Swagger UI, which reads ``/docs.json``)
shows canaryline's API.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from functools import cache
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from registry_client.domain.rollout import RolloutSpec
from service.rest.api_operations import BENTOML, OPERATIONS, Operation
from service.rest.api_schemas import NativeError, PredictionAnswer, ProtocolError
from service.rest.http import json_response, uses_protocol_body
from service.rest.protocol_schemas import InferResponse
from service.rest.v2 import server_version

__all__ = ["DOCUMENT_PATH", "DocsAliasMiddleware", "document", "mounted_operations", "routes"]

DOCUMENT_PATH = "/openapi.json"
_REF = "#/components/schemas/{model}"
_SECURITY: dict[str | None, list[dict[str, list[str]]]] = {
    "read": [{"readToken": []}, {"adminToken": []}],
    "admin": [{"adminToken": []}],
    "feedback": [{"feedbackToken": []}],
    None: [],
}
_SCHEMES = {
    "adminToken": "CANARYLINE_ADMIN_TOKEN: every mutation (plans, rollouts, registrations, archives)",
    "readToken": "CANARYLINE_READ_TOKEN: reads that name actors and reasons (the admin token is accepted too)",
    "feedbackToken": "CANARYLINE_FEEDBACK_TOKEN: posting ground truth",
}
_MEDIA = {"text": "text/plain", "html": "text/html", "any": "*/*"}


def routes() -> list[BaseRoute]:
    async def serve(request: Request) -> Response:
        return json_response(document(mounted_operations(request.app.router.routes)))

    return [Route(DOCUMENT_PATH, serve, methods=["GET"])]


def mounted_operations(mounted: Iterable[BaseRoute]) -> list[Operation]:
    """The operations of the app's ``mounted`` routes, then BentoML's; a route's catch-alls have none."""
    pairs = {(m, _template(r.path)) for r in mounted if isinstance(r, Route) for m in (r.methods or ()) if m != "HEAD"}
    return [op for op in OPERATIONS if (op.method, op.path) in pairs] + list(BENTOML)


def document(operations: Iterable[Operation]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``operations``."""
    operations = list(operations)
    schemas = _schemas()
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(_template(op.path), {})[op.method.lower()] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "canaryline",
            "version": server_version(),
            "description": "The inference gateway's HTTP API: canaryline's own endpoints, the admin and rollout "
            "API, the registry, ground truth, the Open Inference Protocol (v2) and KServe v1.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                name: {"type": "http", "scheme": "bearer", "description": text} for name, text in _SCHEMES.items()
            },
        },
    }


def _template(path: str) -> str:
    return path.replace(":path}", "}")


def _operation(op: Operation) -> dict[str, Any]:
    body: dict[str, Any] = {
        "operationId": re.sub(r"[^A-Za-z0-9]+", "_", f"{op.method.lower()}{_template(op.path)}"),
        "summary": op.summary,
        "tags": [op.tag],
        "security": _SECURITY[op.gate],
        "responses": _responses(op),
    }
    if op.params:
        body["parameters"] = [_param(p) for p in op.params]
    if op.body == "model_file":
        binary = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
        body["requestBody"] = {"required": True, "content": binary, "description": "the model file, as it is"}
    elif op.body is not None:
        ref = "RolloutStart" if op.body == "rollout_spec" else _name(op.body, "validation")
        content = {"application/json": {"schema": {"$ref": _REF.format(model=ref)}}}
        required = op.body == "rollout_spec" or (isinstance(op.body, type) and _required(op.body))
        body["requestBody"] = {"required": required, "content": content}
    return body


def _required(model: type[BaseModel]) -> bool:
    return any(field.is_required() for field in model.model_fields.values())


def _param(param: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "minLength": 1}
    if param.pattern is not None:
        schema["pattern"] = param.pattern
    return {
        "name": param.name,
        "in": param.where,
        "required": param.required or param.where == "path",
        "description": param.description,
        "schema": schema,
    }


def _header(description: str, *, required: bool = True) -> dict[str, Any]:
    return {"description": description, "required": required, "schema": {"type": "string"}}


#: The answers of a served prediction carry the version that served it.
_STAMPED = (PredictionAnswer, InferResponse)
_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": _header('Bearer realm="canaryline-<admin|read|feedback>": the token wanted')},
    308: {"Location": _header("where the console is: /ui/")},
}


def _responses(op: Operation) -> dict[str, Any]:
    responses: dict[str, Any] = {str(op.status): _answer(op)}
    if op.answer in _STAMPED:
        responses[str(op.status)]["headers"] = {
            "X-Model-Version": _header("the version that served the prediction"),
            "X-Request-ID": _header("the request's ID, when it is printable ASCII", required=False),
        }
    if op.status in _HEADERS:
        responses[str(op.status)]["headers"] = _HEADERS[op.status]
    for status in op.alike:
        responses[str(status)] = _answer(op, status)
    error = ProtocolError if uses_protocol_body(op.path) else NativeError
    error_ref = {"$ref": _REF.format(model=_name(error, "serialization"))}
    statuses = set(op.errors) | ({401} if op.gate is not None else set())
    if op.status >= 400:
        responses[str(op.status)] = {"description": HTTPStatus(op.status).phrase, "content": _json(error_ref)}
    for status in sorted(statuses):
        responses[str(status)] = {"description": HTTPStatus(status).phrase, "content": _json(error_ref)}
        if status in _HEADERS:
            responses[str(status)]["headers"] = _HEADERS[status]
    return responses


def _answer(op: Operation, status: int | None = None) -> dict[str, Any]:
    phrase = HTTPStatus(status or op.status).phrase
    if op.answer is None:
        return {"description": phrase}
    if op.answer == "openapi":
        return {"description": "an OpenAPI 3.1 document", "content": _json({"type": "object"})}
    if isinstance(op.answer, str):
        return {"description": phrase, "content": {_MEDIA[op.answer]: {"schema": {"type": "string"}}}}
    return {"description": phrase, "content": _json({"$ref": _REF.format(model=_name(op.answer, "serialization"))})}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


@cache
def _definitions() -> tuple[dict[tuple[type[BaseModel], JsonSchemaMode], str], dict[str, Any]]:
    """Every body model's JSON schema, requests in validation and answers in serialization mode."""
    wanted: set[tuple[type[BaseModel], JsonSchemaMode]] = {(RolloutSpec, "validation")}
    for op in (*OPERATIONS, *BENTOML):
        if isinstance(op.body, type):
            wanted.add((op.body, "validation"))
        if isinstance(op.answer, type):
            wanted.add((op.answer, "serialization"))
    wanted |= {(NativeError, "serialization"), (ProtocolError, "serialization")}
    keyed, top = models_json_schema(sorted(wanted, key=lambda k: (k[0].__name__, k[1])), ref_template=_REF)
    names = {(model, mode): str(value["$ref"]).rsplit("/", 1)[1] for (model, mode), value in keyed.items()}
    definitions: dict[str, Any] = top.get("$defs", {})
    start = copy.deepcopy(definitions[names[(RolloutSpec, "validation")]])
    for field in ("model", "actor"):  # set by the path and X-Canaryline-Actor, refused in the body
        start["properties"].pop(field)
        if field in start.get("required", ()):
            start["required"].remove(field)
    start["title"] = "RolloutStart"
    definitions["RolloutStart"] = start
    return names, definitions  # type: ignore[return-value]  # keyed by the BaseModel classes passed in


def _schemas() -> dict[str, Any]:
    return copy.deepcopy(_definitions()[1])


def _name(model: type[BaseModel], mode: JsonSchemaMode) -> str:
    return _definitions()[0][(model, mode)]


class DocsAliasMiddleware:
    """Answers BentoML's ``GET /docs.json`` with the gateway's document (the app's ``/openapi.json``); other
    methods reach BentoML's route, whose 405 names ``/docs.json`` and its ``Allow``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/docs.json" and scope["method"] in ("GET", "HEAD"):
            scope = {**scope, "path": DOCUMENT_PATH, "raw_path": DOCUMENT_PATH.encode()}
        await self.app(scope, receive, send)

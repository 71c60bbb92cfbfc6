"""The registry's writes over HTTP, behind the admin token (mounted with the admin API).

``POST /registry/models/{model}/versions`` registers a model file a training job wrote: the **raw body is the
file** (``Content-Type: application/octet-stream``; each framework's own format, see
:mod:`registry_client.registry.model_files`) and its metadata are query parameters: ``framework`` (required:
sklearn, xgboost, lightgbm or onnx), ``version``, ``task``, ``data_version``, ``code_version``,
``description``, ``params`` and ``metrics`` (each a JSON object), ``trust_pickle=true`` (a scikit-learn
pickle runs code when it is loaded: only for a file from a job you trust) and ``allow_schema_change=true``.
A raw body needs no multipart parser and streams to disk as it arrives; ``curl --data-binary @model.onnx``
sends it. An unknown query parameter is refused, so a misspelt one is not silently dropped. The body may
be at most ``CANARYLINE_MAX_MODEL_FILE_BYTES`` (413 beyond, before it is all read) and is not compressed
(415 for a ``Content-Encoding``). The answer is 201 with the version's record.

Everything the registry refuses is refused before anything is written (nothing half-written): a bad name
(422), a file that is not a model of ``framework`` or a pickle without the flag (422), an existing version
(409), a task, input width or schema unlike the model's other versions (409). ``POST …/versions/{version}/
archive`` (``{"reason", "prune"?}``) archives a version no plan serves (409 while one does); it stays
listed with ``include_archived=true``. Both are recorded in the registry's audit with the actor from
``X-Canaryline-Actor``, and this gateway applies a new first-version plan before answering.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import anyio
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from registry_client.domain.identifiers import new_id, request_id_header
from registry_client.domain.plan import first_error
from registry_client.domain.versions import validate_model_name, validate_version
from registry_client.errors import InputError, PayloadTooLargeError, UnsupportedMediaTypeError
from registry_client.registry.model_files import FRAMEWORKS
from registry_client.registry.registry import Registry
from service.dataplane.validation import load_json
from service.rest.admin import actor_of
from service.rest.http import check_path_names, json_response, read_body

__all__ = ["QUERY", "ArchiveBody", "routes"]

_BASE = "/registry/models/{model}/versions"
#: The registration's query parameters, with what each holds (for the errors and the OpenAPI document).
QUERY = {
    "framework": f"the file's framework: {', '.join(FRAMEWORKS)}",
    "version": "the version's name (default: the next vN)",
    "task": "classification or regression (default: the model's own)",
    "data_version": "the data the model was trained on",
    "code_version": "the code that trained it",
    "description": "free text",
    "params": "a JSON object: the training parameters",
    "metrics": "a JSON object: the offline metrics",
    "trust_pickle": "true to load a scikit-learn pickle (it runs code when loaded)",
    "allow_schema_change": "true to accept named inputs unlike the model's other versions",
}
_FLAGS = ("trust_pickle", "allow_schema_change")
_MAX_ARCHIVE_BODY = 64 * 1024


class ArchiveBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    reason: str = Field(min_length=1, max_length=500)
    prune: bool = Field(default=False, description="delete its archive from the artifact store too")


def routes() -> list[BaseRoute]:
    return [
        Route(_BASE, _register, methods=["POST"]),
        Route(f"{_BASE}/{{version}}/archive", _archive, methods=["POST"]),
    ]


async def _register(request: Request) -> Response:
    request_id = request.state.request_id = new_id()
    request.app.state.gates.admin.check(request.headers)
    actor = actor_of(request)
    model = validate_model_name(request.path_params["model"])  # a name that breaks the rule: 422, nothing read
    options = _options(request)
    framework = options.pop("framework")
    registry: Registry = request.app.state.registry
    uploads = Path(request.app.state.gateway.settings.home) / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=uploads) as folder:
        path = Path(folder) / f"{model}.{framework}"
        await _receive(request, path, registry.max_file_bytes)
        record = await anyio.to_thread.run_sync(
            lambda: registry.register_file(model, path, framework=framework, actor=actor, **options)
        )
    await anyio.to_thread.run_sync(request.app.state.gateway.plans.refresh)  # a first version's plan: serve it now
    headers = {**request_id_header(request_id), "Location": f"/registry/models/{model}/versions/{record.version}"}
    return json_response(record.to_dict(), 201, headers=headers)


async def _archive(request: Request) -> Response:
    request_id = request.state.request_id = new_id()
    request.app.state.gates.admin.check(request.headers)
    actor = actor_of(request)
    params = dict(request.path_params)
    check_path_names(params)
    try:
        body = ArchiveBody.model_validate(load_json(await read_body(request, _MAX_ARCHIVE_BODY) or b"{}"))
    except ValidationError as exc:
        raise InputError(f"field {first_error(exc)}") from exc
    registry: Registry = request.app.state.registry
    record = await anyio.to_thread.run_sync(
        lambda: registry.archive(params["model"], params["version"], actor=actor, reason=body.reason, prune=body.prune)
    )
    return json_response(record.to_dict(), headers=request_id_header(request_id))


def _options(request: Request) -> dict[str, Any]:
    """The registration's query parameters as register_file's options; 422 naming the one at fault."""
    query = request.query_params
    unknown = sorted(set(query) - set(QUERY))
    if unknown:
        raise InputError(f"query parameter {unknown[0]!r} is unknown; the parameters are {', '.join(QUERY)}")
    framework = query.get("framework")
    if framework not in FRAMEWORKS:
        raise InputError(f"query parameter framework must be one of {', '.join(FRAMEWORKS)}, not {framework!r}")
    options: dict[str, Any] = {"framework": framework, "description": query.get("description", "")}
    for name in ("version", "task", "data_version", "code_version"):
        if name in query:
            options[name] = query[name]
    if "version" in query:
        validate_version(query["version"])  # before the file is received
    for name in ("params", "metrics"):
        if name in query:
            value = load_json(query[name].encode())
            if not isinstance(value, dict):
                raise InputError(f"query parameter {name} must be a JSON object")
            options[name] = value
    for name in _FLAGS:
        if query.get(name, "false") not in ("true", "false"):
            raise InputError(f"query parameter {name} must be true or false")
        options[name] = query.get(name) == "true"
    return options


async def _receive(request: Request, path: Path, limit: int | None) -> None:
    """Stream the body to ``path``: 415 for a Content-Encoding, 413 over ``limit``, 422 when it is empty."""
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding != "identity":
        raise UnsupportedMediaTypeError(f"a model file is sent as it is: Content-Encoding {encoding!r} is refused")
    declared = request.headers.get("content-length")
    if limit is not None and declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"the model file is {declared} bytes, over the limit of {limit} bytes "
                                   "(CANARYLINE_MAX_MODEL_FILE_BYTES)")  # fmt: skip
    size = 0
    with path.open("wb") as out:
        async for chunk in request.stream():
            size += len(chunk)
            if limit is not None and size > limit:
                raise PayloadTooLargeError(f"the model file is over the limit of {limit} bytes "
                                           "(CANARYLINE_MAX_MODEL_FILE_BYTES)")  # fmt: skip
            out.write(chunk)
    if size == 0:
        raise InputError("the body must be the model file (it is empty)", code="missing_field")

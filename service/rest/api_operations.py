"""Every operation of the gateway's HTTP API, as :mod:`service.rest.openapi` documents it.

One :class:`Operation` per method and route: who may call it (the token gate of :mod:`service.rest.auth`),
its body and parameters, its answer and the errors it can answer with (each in the error body of its path's
protocol). ``tests/integration/test_openapi_document.py`` builds the gateway's app and fails when a mounted
route has no operation here, so a new route cannot go undocumented.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from registry_client.domain.versions import VERSION_PATTERN
from service.rest import admin, registry_admin, rollouts
from service.rest import api_schemas as s
from service.rest import protocol_schemas as p

__all__ = ["BENTOML", "OPERATIONS", "Gate", "Operation", "Param"]

Gate = Literal["read", "admin", "feedback"]
Answer = type[BaseModel] | Literal["text", "html", "any", "openapi"] | None


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    where: Literal["path", "query", "header"]
    description: str
    pattern: str | None = None
    required: bool = False


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    summary: str
    tag: str
    gate: Gate | None
    answer: Answer
    status: int = 200
    body: type[BaseModel] | Literal["rollout_spec", "model_file"] | None = None
    errors: tuple[int, ...] = ()
    params: tuple[Param, ...] = ()
    #: Statuses answered with the same body as ``status`` (``/readyz``'s 503).
    alike: tuple[int, ...] = ()


_MODEL = Param("name", "path", "the model's name", VERSION_PATTERN, True)
_ADMIN_MODEL = Param("model", "path", "the model's name", VERSION_PATTERN, True)
_VERSION = Param("version", "path", "one of the model's versions", VERSION_PATTERN, True)
_REQUEST_ID = Param("X-Request-ID", "header", "the request's ID: 1-256 characters, no control characters")
_ROUTING_KEY = Param("X-Routing-Key", "header", "the sticky routing key when the body has none (1-256 characters)")
_PIN = Param("X-Model-Version", "header", "pin a served version of the model")
_ACTOR = Param(
    "X-Canaryline-Actor", "header", "who acts, for the audit (letters, digits, ._@:+-)", r"^[A-Za-z0-9._@:+-]{1,64}$"
)
_INFERENCE = (_REQUEST_ID, _ROUTING_KEY)
#: What a body-reading route can refuse: bad JSON or header (400), too large (413), a content encoding other
#: than gzip (415), a field that breaks its rule (422).
_BODY = (400, 413, 415, 422)
#: An inference request: also no such model or version (404), and shed or the log refusing (503).
_INFER = (*_BODY, 404, 503)


def _admin(path: str, summary: str, body: type[BaseModel]) -> Operation:
    return Operation(
        "POST", f"/admin/models/{{model}}/{path}", summary, "admin", "admin", s.MutationAnswer,
        body=body, errors=(*_BODY, 401, 404, 409, 503), params=(_ADMIN_MODEL, _ACTOR),
    )  # fmt: skip


def _rollout(command: str, summary: str) -> Operation:
    return Operation(
        "POST", f"/admin/models/{{model}}/rollout/{command}", summary, "rollouts", "admin", s.RolloutAnswer,
        body=_B["command"], errors=(*_BODY, 401, 404, 409, 503), params=(_ADMIN_MODEL, _ACTOR),
    )  # fmt: skip


_B: dict[str, type[BaseModel]] = {**admin.BODIES, "command": rollouts.RolloutCommand}  # the routes' own body models
_NATIVE: tuple[Operation, ...] = (
    Operation("POST", "/predict", "Predict with the model's plan (stable, canary, pinned)", "native", None,
              s.PredictionAnswer, body=s.PredictBody, errors=_INFER, params=(*_INFERENCE, _PIN)),
    Operation("GET", "/models", "Every served model: plan, loaded versions, load errors, shadow counters",
              "native", "read", s.ModelList, errors=(401,)),
    Operation("GET", "/models/{name}", "One served model", "native", "read", s.ModelDescription,
              errors=(401, 404), params=(_MODEL,)),
    Operation("GET", "/models/{name}/evaluation", "The model's evaluation report (canaryline eval --json)",
              "evaluation", "read", s.Evaluation, errors=(401, 404, 422, 503), params=(
                  _MODEL,
                  Param("since", "query", "the window's start: ISO 8601 or epoch seconds"),
                  Param("until", "query", "the window's end: ISO 8601 or epoch seconds"))),
    Operation("GET", "/models/{name}/timeline", "Traffic share, quality and shadow agreement over time",
              "evaluation", "read", s.Timeline, errors=(401, 404, 422, 503), params=(
                  _MODEL,
                  Param("since", "query", "the window's start: ISO 8601 or epoch seconds"),
                  Param("until", "query", "the window's end: ISO 8601 or epoch seconds"),
                  Param("bucket", "query", "seconds per bucket, 1 to a year", r"^[0-9]+$"))),
    Operation("POST", "/feedback", "The ground truth of a served request", "feedback", "feedback",
              s.FeedbackAnswer, status=202, body=s.FeedbackBody, errors=(*_BODY, 401, 404, 409, 503),
              params=(_REQUEST_ID,)),
    Operation("GET", "/openapi.json", "This document", "meta", None, "openapi"),
)  # fmt: skip
_REGISTRATION = tuple(
    Param(
        name, "query", text, r"^(sklearn|xgboost|lightgbm|onnx)$" if name == "framework" else None, name == "framework"
    )
    for name, text in registry_admin.QUERY.items()
)
_REGISTRY: tuple[Operation, ...] = (
    Operation("GET", "/registry/models", "Every model with a registered version", "registry", "read",
              s.RegistryModels, errors=(401, 503)),
    Operation("GET", "/registry/models/{model}/versions", "A model's registered versions", "registry", "read",
              s.VersionList, errors=(401, 404, 422, 503), params=(
                  _ADMIN_MODEL, Param("include_archived", "query", "true to list archived versions too"))),
    Operation("GET", "/registry/models/{model}/versions/{version}", "One version's record", "registry", "read",
              s.VersionRecord, errors=(401, 404, 503), params=(_ADMIN_MODEL, _VERSION)),
)  # fmt: skip
_REGISTRY_ADMIN: tuple[Operation, ...] = (
    Operation("POST", "/registry/models/{model}/versions", "Register a model file (the raw body) as a new version",
              "registry", "admin", s.VersionRecord, status=201, body="model_file",
              errors=(400, 401, 404, 409, 413, 415, 422, 503), params=(_ADMIN_MODEL, _ACTOR, *_REGISTRATION)),
    Operation("POST", "/registry/models/{model}/versions/{version}/archive", "Archive a version no plan serves",
              "registry", "admin", s.VersionRecord, body=registry_admin.ArchiveBody,
              errors=(*_BODY, 401, 404, 409, 503), params=(_ADMIN_MODEL, _VERSION, _ACTOR)),
)  # fmt: skip
_ADMIN: tuple[Operation, ...] = (
    Operation("GET", "/admin/models/{model}/plan", "The plan in force", "admin", "read", s.PlanAnswer,
              errors=(401, 404, 503), params=(_ADMIN_MODEL,)),
    Operation("GET", "/admin/models/{model}/history", "Every revision of the plan, oldest first", "admin", "read",
              s.PlanHistory, errors=(401, 404, 503), params=(_ADMIN_MODEL,)),
    _admin("promote", "Make a version stable", _B["promote"]),
    _admin("canary", "Send a share of traffic to a version", _B["canary"]),
    _admin("canary/clear", "End the canary", _B["mutation"]),
    _admin("shadow", "Mirror a share of requests to a version", _B["shadow"]),
    _admin("shadow/clear", "End the shadow", _B["mutation"]),
    _admin("rollback", "Go back to the previous stable version (or to one named)", _B["rollback"]),
    Operation("GET", "/admin/models/{model}/rollout", "The model's rollout", "rollouts", "read", s.RolloutAnswer,
              errors=(401, 404, 503), params=(_ADMIN_MODEL,)),
    Operation("GET", "/admin/models/{model}/rollout/sequence", "The rollout's quality sequence this step",
              "rollouts", "read", s.RolloutSequence, errors=(401, 404, 503), params=(_ADMIN_MODEL,)),
    Operation("POST", "/admin/models/{model}/rollout", "Start a rollout from a spec", "rollouts", "admin",
              s.RolloutAnswer, body="rollout_spec", errors=(*_BODY, 401, 404, 409, 503), params=(_ADMIN_MODEL, _ACTOR)),
    _rollout("pause", "Pause the rollout"),
    _rollout("resume", "Resume a paused rollout"),
    _rollout("abort", "Abort the rollout (the stable version keeps serving)"),
    _rollout("promote", "Promote the rollout's version now (force: true)"),
)  # fmt: skip
_V2: tuple[Operation, ...] = (
    Operation("GET", "/v2", "Server metadata", "oip-v2", None, p.OipServerMetadata),
    Operation("GET", "/v2/", "Server metadata", "oip-v2", None, p.OipServerMetadata),
    Operation("GET", "/v2/health/live", "Server liveness", "oip-v2", None, p.OipLive),
    Operation("GET", "/v2/health/ready", "Server readiness (400 before a model is served)", "oip-v2", None,
              p.OipReady, errors=(400,)),
    Operation("GET", "/v2/models/{name}", "Model metadata", "oip-v2", None, p.OipModelMetadata,
              errors=(404, 503), params=(_MODEL,)),
    Operation("GET", "/v2/models/{name}/versions/{version}", "Model version metadata", "oip-v2", None,
              p.OipModelMetadata, errors=(404, 503), params=(_MODEL, _VERSION)),
    Operation("GET", "/v2/models/{name}/ready", "Model readiness", "oip-v2", None, p.OipModelReady,
              errors=(400, 404), params=(_MODEL,)),
    Operation("GET", "/v2/models/{name}/versions/{version}/ready", "Model version readiness", "oip-v2", None,
              p.OipModelReady, errors=(400, 404), params=(_MODEL, _VERSION)),
    Operation("POST", "/v2/models/{name}/infer", "Infer, routed by the plan", "oip-v2", None, p.InferResponse,
              body=p.InferBody, errors=_INFER, params=(_MODEL, *_INFERENCE)),
    Operation("POST", "/v2/models/{name}/versions/{version}/infer", "Infer on a pinned version", "oip-v2", None,
              p.InferResponse, body=p.InferBody, errors=_INFER, params=(_MODEL, _VERSION, *_INFERENCE)),
)  # fmt: skip
_V1: tuple[Operation, ...] = (
    Operation("GET", "/", "KServe v1 server liveness", "kserve-v1", None, p.V1Liveness),
    Operation("GET", "/v1/models", "Served models", "kserve-v1", None, p.KServeModels),
    Operation("POST", "/v1/models/{name}:predict", "Predict, routed by the plan", "kserve-v1", None,
              s.PredictionAnswer, body=p.V1PredictBody, errors=_INFER, params=(_MODEL, *_INFERENCE, _PIN)),
    Operation("POST", "/v1/models/{name}:explain", "Not served: always 501 (404 for an unknown model)",
              "kserve-v1", None, None, status=501, errors=(404, 503), params=(_MODEL,)),
    Operation("GET", "/v1/models/{name}", "Model readiness", "kserve-v1", None, p.KServeReady,
              errors=(404, 503), params=(_MODEL,)),
)  # fmt: skip
_CONSOLE: tuple[Operation, ...] = (
    Operation("GET", "/ui", "The console (a redirect to /ui/)", "console", None, None, status=308),
    Operation("GET", "/ui/", "The console's page", "console", None, "html"),
    Operation("GET", "/ui/{path}", "The console's static files", "console", None, "any", errors=(404,),
              params=(Param("path", "path", "a file of the console", required=True),)),
)  # fmt: skip
#: Answered by BentoML (and :mod:`service.rest.readiness`) around the app, in every gateway process.
BENTOML: tuple[Operation, ...] = (
    Operation("GET", "/livez", "The process is alive", "health", None, "text"),
    Operation("GET", "/healthz", "The process is alive", "health", None, "text"),
    Operation("GET", "/readyz", "Ready: a model is served and the log keeps records (else 503, same body)",
              "health", None, s.Readiness, alike=(503,)),
    Operation("GET", "/metrics", "Prometheus metrics", "health", None, "text"),
    Operation("GET", "/docs.json", "This document (BentoML's path for it)", "meta", None, "openapi"),
)  # fmt: skip
OPERATIONS: tuple[Operation, ...] = (*_NATIVE, *_REGISTRY, *_REGISTRY_ADMIN, *_ADMIN, *_V2, *_V1, *_CONSOLE)

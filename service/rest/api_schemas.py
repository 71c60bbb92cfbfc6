"""The bodies of canaryline's HTTP API as pydantic models, for its OpenAPI document (:mod:`service.rest.openapi`).

The admin, rollout and plan bodies are the models the routes validate with (:class:`~registry_client.domain.plan.Plan`,
:class:`~registry_client.domain.rollout.RolloutSpec`, the admin API's mutations); the inference protocols parse
by hand (their errors name the element at fault), so their bodies are described here, field for field as the
parsers and renderers of :mod:`service.rest.native` and :mod:`service.dataplane.feedback` read and write
them (the Open Inference Protocol's and KServe v1's are in :mod:`service.rest.protocol_schemas`). The
schemathesis run against a real gateway (``tests/e2e/test_openapi_fuzz.py``) keeps the two in step: an
answer these models do not describe fails it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from registry_client.domain.plan import AuditEntry, Plan
from service.dataplane.validation import ROUTING_KEY_MAX

__all__ = [
    "KEY",
    "NUMBERS",
    "ROW",
    "ErrorDetail",
    "Evaluation",
    "FeedbackAnswer",
    "FeedbackBody",
    "JoinedPrediction",
    "ModelDescription",
    "ModelList",
    "MutationAnswer",
    "NativeError",
    "PlanAnswer",
    "PlanHistory",
    "PredictBody",
    "PredictionAnswer",
    "ProtocolError",
    "Readiness",
    "RegistryModels",
    "RolloutAnswer",
    "RolloutSequence",
    "Timeline",
    "VersionDescription",
    "VersionList",
    "VersionRecord",
]

KEY = Field(default=None, min_length=1, max_length=ROUTING_KEY_MAX, description="the sticky routing key")
#: A JSON number the gateway accepts as a feature: finite (NaN and infinities are refused).
NUMBERS = list[list[float]]
#: Named inputs: records (a list of objects) or columns (an object of lists), for a named-input version.
_NAMED = list[dict[str, Any]] | dict[str, list[Any]]


# -- errors: one shape per protocol (service/rest/http.py error_body) ---------------------------------------
class ErrorDetail(BaseModel):
    code: str = Field(description="a stable machine-readable code (invalid_json, unknown_model, overloaded …)")
    message: str = Field(description="what was wrong, naming the field and the rule")
    request_id: str


class NativeError(BaseModel):
    """Every error outside ``/v2`` and ``/v1``."""

    model_config = ConfigDict(extra="forbid")
    error: ErrorDetail


class ProtocolError(BaseModel):
    """Every error under ``/v2`` (the Open Inference Protocol's) and ``/v1`` (KServe v1's)."""

    model_config = ConfigDict(extra="forbid")
    error: str


# -- native ---------------------------------------------------------------------------------------------
#: An iris flower, for the examples.
ROW: list[Any] = [5.1, 3.5, 1.4, 0.2]


class PredictBody(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"inputs": [ROW]}, {"inputs": [ROW], "routing_key": "u1"}]}
    )

    model: str | None = Field(default=None, min_length=1, description="optional when one model is served")
    inputs: NUMBERS | _NAMED = Field(description="rows of finite numbers, or named inputs (records or columns)")
    routing_key: str | None = KEY
    version: str | None = Field(default=None, min_length=1, description="pin a served version")


class PredictionAnswer(BaseModel):
    """The stamped body of ``POST /predict`` and ``POST /v1/models/{name}:predict``."""

    model: str
    model_version: str
    request_id: str
    prediction_id: str
    route: str = Field(description="stable, canary or pinned")
    revision: int
    predictions: list[Any]
    probabilities: list[list[float]] | None = Field(default=None, description="classifiers with predict_proba only")


class VersionDescription(BaseModel):
    task: str
    framework: str
    sha256: str
    n_features: int | None
    input_schema: dict[str, Any] | None
    created: str


class ModelDescription(BaseModel):
    model: str
    plan: Plan | None = Field(description="the plan in force; null when its latest revision failed to load")
    versions: dict[str, VersionDescription]
    error: str | None
    shadow: dict[str, dict[str, int | bool]]


class ModelList(BaseModel):
    models: list[ModelDescription]


class FeedbackBody(BaseModel):
    request_id: str = Field(min_length=1, max_length=256, description="the request ID the prediction answered with")
    outcome: Any = Field(description="one value, or a list with one value per row of the request")
    observed_at: str | float | None = Field(default=None, description="ISO 8601 or epoch seconds")
    model: str | None = Field(default=None, min_length=1)
    prediction_id: str | None = Field(default=None, description="the prediction (a UUID) when the ID was reused")


class JoinedPrediction(BaseModel):
    prediction_id: str
    model_version: str
    route: str
    shadow: bool


class FeedbackAnswer(BaseModel):
    request_id: str
    model: str
    versions: list[str]
    predictions: list[JoinedPrediction]
    rows: int
    observed_at: float
    replaced: bool


class Readiness(BaseModel):
    ready: bool
    models: dict[str, int] = Field(description="each served model's revision")
    errors: dict[str, str] = Field(description="models whose latest revision could not be applied, with why")
    log: dict[str, Any] = Field(description="the prediction log's state: mode, counters, spool and store breaker")


class Evaluation(BaseModel):
    """``canaryline eval --json``: each version's measured quality, canary against stable, shadows, the verdict."""

    model: str
    task: str
    stable_version: str | None
    since: float | None
    until: float | None
    groups: list[dict[str, Any]]
    canary_vs_stable: list[dict[str, Any]]
    shadows: list[dict[str, Any]]
    verdict: dict[str, Any] | None
    error_rate: None
    notes: dict[str, str]
    warnings: list[str]


class Timeline(BaseModel):
    """The console's charts over time: traffic share per version, quality per version, shadow agreement."""

    model: str
    task: str
    bucket_s: int
    starts: list[float]
    traffic: dict[str, Any]
    quality: dict[str, Any]
    shadow: dict[str, Any]
    revisions: list[dict[str, Any]]


# -- admin and rollouts -----------------------------------------------------------------------------------
class PlanAnswer(BaseModel):
    plan: Plan


class PlanHistory(BaseModel):
    history: list[AuditEntry]


class MutationAnswer(BaseModel):
    plan: Plan
    audit: AuditEntry
    applied_revision: int | None = Field(description="the revision this gateway serves once it applied the change")
    apply_error: str | None


class RolloutAnswer(BaseModel):
    rollout: dict[str, Any] = Field(description="the rollout's state: spec, phase, step and every decision")


class RolloutSequence(BaseModel):
    sequence: dict[str, Any] | None = Field(description="the quality gate's interval at each tick of the step")


# -- registry ---------------------------------------------------------------------------------------------
class RegistryModels(BaseModel):
    models: list[str] = Field(description="every model with a registered version")


class VersionRecord(BaseModel):
    """What the registry keeps of one version (``ModelVersion.to_dict``)."""

    model: str
    version: str
    created: str = Field(description="when it was registered, ISO 8601")
    task: Literal["classification", "regression"]
    framework: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    data_version: str | None
    code_version: str | None
    description: str
    sha256: str = Field(pattern="^[0-9a-f]{64}$")
    n_features: int | None
    classes: list[Any] | None
    input_schema: dict[str, Any] | None
    options: dict[str, Any] = Field(description="what loading needs besides the file (an XGBoost class …)")
    artifact_uri: str | None = Field(description="where its archive is, in CANARYLINE_ARTIFACTS")
    artifact_sha256: str | None
    created_by: str
    archived: bool
    archived_at: str | None
    archived_by: str | None
    archive_reason: str | None


class VersionList(BaseModel):
    model: str
    versions: list[VersionRecord] = Field(description="in numeric order: v2 before v10")

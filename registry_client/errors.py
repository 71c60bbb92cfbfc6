"""Errors raised by the registry, the stores and the control-plane client.

Every error carries an HTTP ``status`` so a transport maps it to a response in one place::

    CanarylineError (500)
    ├── InvalidVersionError (422)        a version name breaks the naming rule
    ├── VersionExistsError (409)         a version is registered already; nothing is overwritten
    ├── IncompatibleVersionError (409)   a new version's task or input width differs from the model's versions
    ├── InvalidTaskError (422)           a task that is unknown, contradicts the estimator, or cannot be told
    ├── ModelNotFoundError (404)         no such model, or no such version of it
    ├── ArtifactIntegrityError (500)     a stored artifact's SHA-256 differs from the registered one
    ├── UnsupportedModelError (422)      no framework adapter can save this object
    ├── PlanError (422)                  a routing plan would be invalid
    ├── PlanConflictError (409)          expected_revision no longer matches the stored plan
    ├── StoreError (503)                 the store could not be reached or answered badly
    │   └── StoreUnavailableError (503)  the store is down right now (the caller may retry)
    └── GatewayClientError (status of the gateway's answer)  a control-plane call was refused
"""

from __future__ import annotations

__all__ = [
    "ArtifactIntegrityError",
    "CanarylineError",
    "GatewayClientError",
    "IncompatibleVersionError",
    "InvalidTaskError",
    "InvalidVersionError",
    "ModelNotFoundError",
    "PlanConflictError",
    "PlanError",
    "StoreError",
    "StoreUnavailableError",
    "UnsupportedModelError",
    "VersionExistsError",
]


class CanarylineError(Exception):
    """Root of every error canaryline raises on purpose."""

    status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidVersionError(CanarylineError):
    status = 422
    code = "invalid_version"


class VersionExistsError(CanarylineError):
    status = 409
    code = "version_exists"


class IncompatibleVersionError(CanarylineError):
    status = 409
    code = "incompatible_version"


class InvalidTaskError(CanarylineError):
    status = 422
    code = "invalid_task"


class ModelNotFoundError(CanarylineError):
    status = 404
    code = "not_found"


class ArtifactIntegrityError(CanarylineError):
    status = 500
    code = "artifact_integrity"


class UnsupportedModelError(CanarylineError):
    status = 422
    code = "unsupported_model"


class PlanError(CanarylineError):
    status = 422
    code = "invalid_plan"


class PlanConflictError(CanarylineError):
    status = 409
    code = "revision_conflict"


class StoreError(CanarylineError):
    status = 503
    code = "store_error"


class StoreUnavailableError(StoreError):
    code = "store_unavailable"


class GatewayClientError(CanarylineError):
    """The gateway refused a control-plane call; ``status`` is the HTTP status it answered."""

    def __init__(self, message: str, *, status: int, code: str = "gateway_error") -> None:
        super().__init__(message)
        self.status = status
        self.code = code

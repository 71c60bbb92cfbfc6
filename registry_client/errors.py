"""Every error canaryline raises on purpose, in one tree.

Each carries the HTTP ``status`` a transport answers it with and a stable ``code`` (overridable per raise
for a finer one, e.g. ``unknown_model``); messages name the model, version, field and rule. Transports turn
them into responses through exception handlers (one per protocol's error body), and the CLI into exit
codes through an explicit mapping (``registry_client.cli.app.output.EXIT_CODES``)::

    CanarylineError (500 internal_error)
    ├── BadRequestError (400)             malformed JSON, a header or request ID that breaks its rule, bad gzip
    ├── UnauthorizedError (401)           a missing or wrong bearer token (admin, read or feedback); has a realm
    ├── NotFoundError (404)               no such route, a model that is not served, a pinned version that is
    │   │                                 not served, feedback for a request with no logged prediction
    │   ├── ModelNotFoundError (404)      the registry or store has no such model or version
    │   └── RolloutNotFoundError (404)    a model with no rollout
    ├── MethodNotAllowedError (405)       a method the path does not take
    ├── ConflictError (409)               a request ID with several primary predictions and none named
    │   ├── VersionExistsError (409)      a version is registered already; nothing is overwritten
    │   ├── IncompatibleVersionError (409) a new version's task, input width or input schema differs from
    │   │                                 its model's (a schema change only when declared)
    │   ├── VersionInUseError (409)       archiving a version a plan serves (stable, canary or shadow)
    │   ├── PlanConflictError (409)       expected_revision no longer matches the stored plan
    │   ├── RolloutConflictError (409)    a rollout is already running, or its state moved on (seq)
    │   └── LeaseLostError (409)          a write fenced by a lease its writer no longer holds
    ├── PayloadTooLargeError (413)        a body over CANARYLINE_MAX_BODY_BYTES, as sent or decompressed
    ├── UnsupportedMediaTypeError (415)   a Content-Encoding other than gzip or identity
    ├── InputError (422)                  well-formed input that breaks a field's rule
    │   ├── InvalidVersionError (422)     a version or model name breaks the naming rule
    │   ├── InvalidTaskError (422)        a task that is unknown, contradicts the estimator, or cannot be told
    │   ├── UnsupportedModelError (422)   no framework adapter can save this object, or its extra is missing
    │   ├── SchemaError (422)             an input schema that breaks its rules or does not fit the model
    │   ├── ModelFileError (422)          a model file that is not a model of the named framework, or a
    │   │                                 pickle registered without the trust flag
    │   ├── PlanError (422)               a routing plan would be invalid
    │   ├── RolloutError (422)            a rollout spec that is invalid, or a command its phase forbids
    │   ├── TimestampError (422)          neither ISO 8601 text nor finite epoch seconds
    │   ├── EvaluationError (422)         an evaluation that cannot be computed as asked
    │   ├── JoinError (422)               a record's rows, predictions and outcomes do not line up
    │   ├── ExportError (422)             an export to a path or format that cannot be written
    │   └── FeedbackFileError (422)       a bulk feedback file that cannot be read
    ├── ArtifactIntegrityError (500)      a stored artifact's SHA-256 differs from the registered one
    ├── ExportWriteError (500)            the export failed while writing (disk full, I/O error)
    ├── NotImplementedByGatewayError (501) a protocol call the gateway does not serve (KServe :explain)
    ├── ServiceUnavailableError (503)     nothing loaded for a model, the log cannot take a record, a worker
    │   │                                 over its concurrency limit (these say when to retry: Retry-After)
    │   ├── ArtifactUnavailableError (503) the artifact store cannot be read or written right now
    │   ├── StoreError (503)              the store answered badly
    │   │   ├── StoreUnavailableError (503) the store cannot be reached right now
    │   │   └── StoreSchemaError (503)    the store's schema is newer than this code, or cannot be migrated
    │   └── SpoolUnavailableError (503)   the local spool cannot be written (read-only, full, I/O error)
    ├── RequestTimeoutError (504)         no answer was started within the service's traffic timeout
    └── GatewayClientError                a gateway answered a client call with an error (its status)
        ├── GatewayRefusedError (4xx)     it refused the call: the caller's to fix
        └── GatewayUnavailableError (5xx) it failed or could not be reached: worth retrying

Outside the tree, because it is never an answer to a request: :class:`StartupError`, a setting or the
environment forbids starting (``canaryline serve`` prints its one line and exits 2).
"""

from __future__ import annotations

__all__ = [
    "ArtifactIntegrityError",
    "ArtifactUnavailableError",
    "BadRequestError",
    "CanarylineError",
    "ConflictError",
    "EvaluationError",
    "ExportError",
    "ExportWriteError",
    "FeedbackFileError",
    "GatewayClientError",
    "GatewayRefusedError",
    "GatewayUnavailableError",
    "IncompatibleVersionError",
    "InputError",
    "InvalidTaskError",
    "InvalidVersionError",
    "JoinError",
    "LeaseLostError",
    "MethodNotAllowedError",
    "ModelFileError",
    "ModelNotFoundError",
    "NotFoundError",
    "NotImplementedByGatewayError",
    "PayloadTooLargeError",
    "PlanConflictError",
    "PlanError",
    "RequestTimeoutError",
    "RolloutConflictError",
    "RolloutError",
    "RolloutNotFoundError",
    "SchemaError",
    "ServiceUnavailableError",
    "SpoolUnavailableError",
    "StartupError",
    "StoreError",
    "StoreSchemaError",
    "StoreUnavailableError",
    "TimestampError",
    "UnauthorizedError",
    "UnsupportedMediaTypeError",
    "UnsupportedModelError",
    "VersionExistsError",
    "VersionInUseError",
]


class CanarylineError(Exception):
    """The root: an error canaryline raises on purpose, with the HTTP status and code it is answered with."""

    status: int = 500
    code: str = "internal_error"
    #: Seconds after which a retry may succeed (sent as ``Retry-After``); None when a retry would not help.
    retry_after: int | None = None

    def __init__(self, message: str, *, code: str | None = None, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if retry_after is not None:
            self.retry_after = retry_after


class BadRequestError(CanarylineError):
    status = 400
    code = "bad_request"


class UnauthorizedError(CanarylineError):
    """Answered with ``WWW-Authenticate: Bearer realm="<realm>"``."""

    status = 401
    code = "unauthorized"

    def __init__(self, message: str, *, realm: str) -> None:
        super().__init__(message)
        self.realm = realm


class NotFoundError(CanarylineError):
    status = 404
    code = "not_found"


class ModelNotFoundError(NotFoundError):
    pass


class RolloutNotFoundError(NotFoundError):
    code = "unknown_rollout"


class MethodNotAllowedError(CanarylineError):
    status = 405
    code = "method_not_allowed"


class ConflictError(CanarylineError):
    status = 409
    code = "conflict"


class VersionExistsError(ConflictError):
    code = "version_exists"


class VersionInUseError(ConflictError):
    code = "version_in_use"


class IncompatibleVersionError(ConflictError):
    code = "incompatible_version"


class PlanConflictError(ConflictError):
    code = "revision_conflict"


class RolloutConflictError(ConflictError):
    code = "rollout_conflict"


class LeaseLostError(ConflictError):
    code = "lease_lost"


class PayloadTooLargeError(CanarylineError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaTypeError(CanarylineError):
    status = 415
    code = "unsupported_encoding"


class InputError(CanarylineError):
    status = 422
    code = "invalid_input"


class InvalidVersionError(InputError):
    code = "invalid_version"


class InvalidTaskError(InputError):
    code = "invalid_task"


class UnsupportedModelError(InputError):
    code = "unsupported_model"


class SchemaError(InputError):
    code = "invalid_schema"


class ModelFileError(InputError):
    code = "invalid_model_file"


class PlanError(InputError):
    code = "invalid_plan"


class RolloutError(InputError):
    code = "invalid_rollout"


class TimestampError(InputError):
    """Callers prefix the message with the field or option it came from."""

    code = "invalid_timestamp"


class EvaluationError(InputError):
    code = "invalid_evaluation"


class JoinError(InputError):
    code = "join_mismatch"


class ExportError(InputError):
    code = "export_error"


class FeedbackFileError(InputError):
    code = "invalid_feedback_file"


class ArtifactIntegrityError(CanarylineError):
    code = "artifact_integrity"


class ExportWriteError(CanarylineError):
    code = "export_write_failed"


class NotImplementedByGatewayError(CanarylineError):
    status = 501
    code = "not_implemented"


class ServiceUnavailableError(CanarylineError):
    status = 503
    code = "unavailable"


class RequestTimeoutError(CanarylineError):
    status = 504
    code = "timeout"


class ArtifactUnavailableError(ServiceUnavailableError):
    code = "artifact_unavailable"


class StoreError(ServiceUnavailableError):
    code = "store_error"


class StoreUnavailableError(StoreError):
    code = "store_unavailable"


class StoreSchemaError(StoreError):
    """Retrying does not help: the schema must be migrated (by newer code) before this code can use it."""

    code = "store_schema"


class SpoolUnavailableError(ServiceUnavailableError):
    """``errno_name`` and ``reason`` say what the disk answered (``ENOSPC``, "No space left on device")."""

    code = "spool_unavailable"

    def __init__(self, message: str, *, errno_name: str, reason: str) -> None:
        super().__init__(message)
        self.errno_name = errno_name
        self.reason = reason


class GatewayClientError(CanarylineError):
    """A gateway answered a client call with an error; ``status`` is the HTTP status it answered (503 when
    it could not be reached) and ``code`` its error code."""

    def __init__(self, message: str, *, status: int, code: str = "gateway_error") -> None:
        super().__init__(message, code=code)
        self.status = status


class GatewayRefusedError(GatewayClientError):
    pass


class GatewayUnavailableError(GatewayClientError):
    pass


class StartupError(Exception):
    """A setting or the environment forbids starting; one line, never an HTTP answer."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

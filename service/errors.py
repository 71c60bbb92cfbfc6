"""Errors the gateway answers with; each carries its HTTP status and a stable ``code``.

    GatewayError (500)
    ├── BadRequestError (400)            malformed JSON, a header that breaks its rule
    ├── UnauthorizedError (401)          a missing or wrong bearer token (admin, read or feedback)
    ├── NotFoundError (404)              unknown model, a pinned version that is not served, feedback
    │                                    for a request_id (or prediction_id) with no logged prediction,
    │                                    or no such route
    ├── MethodNotAllowedError (405)      a method the path does not take
    ├── ConflictError (409)              feedback for a request_id with several primary predictions and no
    │                                    prediction_id naming one
    ├── PayloadTooLargeError (413)       a body over CANARYLINE_MAX_BODY_BYTES (once decompressed too)
    ├── UnsupportedMediaTypeError (415)  a Content-Encoding other than gzip or identity
    ├── InputError (422)                 well-formed JSON that breaks a field's rule (an outcome of the
    │                                    wrong type or length for the model's task and the request's rows)
    ├── NotImplementedByGatewayError (501)  a protocol call the gateway does not serve (KServe :explain)
    ├── ServiceUnavailableError (503)    nothing loaded for the model, the log cannot take the record, or
    │                                    the worker is over its concurrency limit (with ``Retry-After``)
    └── StartupError                     a setting forbids starting (e.g. a token missing or too short)

Registry and store errors (``registry_client.errors.CanarylineError``) carry a status the same way;
:func:`service.http.error_response` maps both to the one error body
``{"error": {"code", "message", "request_id"}}``.
"""

from __future__ import annotations

__all__ = [
    "BadRequestError",
    "ConflictError",
    "GatewayError",
    "InputError",
    "MethodNotAllowedError",
    "NotFoundError",
    "NotImplementedByGatewayError",
    "PayloadTooLargeError",
    "ServiceUnavailableError",
    "StartupError",
    "UnauthorizedError",
    "UnsupportedMediaTypeError",
]


class GatewayError(Exception):
    status: int = 500
    code: str = "internal_error"
    #: Seconds a client should wait before trying again (the ``Retry-After`` header), when it is worth it.
    retry_after: int | None = None

    def __init__(self, message: str, *, code: str | None = None, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if retry_after is not None:
            self.retry_after = retry_after


class BadRequestError(GatewayError):
    status = 400
    code = "bad_request"


class UnauthorizedError(GatewayError):
    """Answered with ``WWW-Authenticate: Bearer realm="<realm>"``."""

    status = 401
    code = "unauthorized"

    def __init__(self, message: str, *, realm: str) -> None:
        super().__init__(message)
        self.realm = realm


class NotFoundError(GatewayError):
    status = 404
    code = "not_found"


class MethodNotAllowedError(GatewayError):
    status = 405
    code = "method_not_allowed"


class ConflictError(GatewayError):
    status = 409
    code = "conflict"


class PayloadTooLargeError(GatewayError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaTypeError(GatewayError):
    status = 415
    code = "unsupported_encoding"


class InputError(GatewayError):
    status = 422
    code = "invalid_input"


class NotImplementedByGatewayError(GatewayError):
    status = 501
    code = "not_implemented"


class ServiceUnavailableError(GatewayError):
    status = 503
    code = "unavailable"


class StartupError(GatewayError):
    code = "startup_refused"

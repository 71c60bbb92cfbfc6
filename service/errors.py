"""Errors the gateway answers with; each carries its HTTP status and a stable ``code``.

    GatewayError (500)
    ├── BadRequestError (400)            malformed JSON, a header that breaks its rule
    ├── UnauthorizedError (401)          missing or wrong admin bearer token
    ├── NotFoundError (404)              unknown model, a pinned version that is not served, or feedback
    │                                    for a request_id with no logged prediction
    ├── PayloadTooLargeError (413)       a body over CANARYLINE_MAX_BODY_BYTES
    ├── InputError (422)                 well-formed JSON that breaks a field's rule (an outcome of the
    │                                    wrong type or length for the model's task and the request's rows)
    ├── ServiceUnavailableError (503)    nothing loaded for the model, the log cannot take the record, or
    │                                    the worker is over its concurrency limit (with ``Retry-After``)
    └── StartupError                     a setting forbids starting (e.g. admin API without a token)

Registry and store errors (``registry_client.errors.CanarylineError``) carry a status the same way;
:func:`service.http.error_response` maps both to the one error body
``{"error": {"code", "message", "request_id"}}``.
"""

from __future__ import annotations

__all__ = [
    "BadRequestError",
    "GatewayError",
    "InputError",
    "NotFoundError",
    "PayloadTooLargeError",
    "ServiceUnavailableError",
    "StartupError",
    "UnauthorizedError",
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
    status = 401
    code = "unauthorized"


class NotFoundError(GatewayError):
    status = 404
    code = "not_found"


class PayloadTooLargeError(GatewayError):
    status = 413
    code = "payload_too_large"


class InputError(GatewayError):
    status = 422
    code = "invalid_input"


class ServiceUnavailableError(GatewayError):
    status = 503
    code = "unavailable"


class StartupError(GatewayError):
    code = "startup_refused"

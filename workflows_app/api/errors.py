"""Every API error, and the handlers (one per family) that answer each in the one envelope.

Cloudflare-style codes (their numbers where Cloudflare's are known, ours otherwise):

=====  ======  =====================================================================
code   status  meaning
=====  ======  =====================================================================
7000   404     no route for that URI
7001   405     method not allowed for that route
7003   404     unknown account (also: an account the token does not belong to)
10000  401     authentication error: missing, malformed, unknown, revoked, expired
10000  403     the token is read-only and the request writes
10001  400     invalid input (bad JSON, bad ids, unknown fields, wrong types, NUL ...)
10001  413     a body, ``params`` or event payload over its size limit
10001  415     a body that is not ``application/json``
10002  500     internal error (logged; details never leak)
10405  409     instance.already_exists (Cloudflare's code)
10406  409     instance.invalid_transition (e.g. terminating a complete instance)
10500  404     workflow.not_found
10501  404     instance.not_found (the code ``wrangler dev`` returns); also unknown steps
971    429     a creation-rate or daily-invocation limit (Cloudflare's throttling code),
               or too many failed authentications from one address or for one
               token prefix (``workflows_app.throttle``); with a ``Retry-After`` header
=====  ======  =====================================================================
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, ValidationError

from workflows_app.engine.errors import QuotaExceededError, WorkflowError

logger = logging.getLogger(__name__)

AUTH_ERROR = 10000
INVALID_INPUT = 10001
INTERNAL_ERROR = 10002
RATE_LIMITED = 971  # Cloudflare's throttling code


class ApiError(Exception):
    """An error raised by the API layer itself, with its HTTP status and code."""

    def __init__(
        self, status: int, code: int, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def not_authenticated(message: str) -> ApiError:
    return ApiError(401, AUTH_ERROR, message)


def invalid_input(message: str, *, status: int = 400) -> ApiError:
    return ApiError(status, INVALID_INPUT, message)


def account_not_found(account_id: str) -> ApiError:
    # The same answer for an account that does not exist and for one the token
    # cannot see, so a token never learns which account ids exist.
    return ApiError(
        404,
        7003,
        f"Could not route to /accounts/{account_id[:40]}, perhaps your object identifier "
        "is invalid?",
    )


# Engine error codes (``WorkflowError.code``) → (HTTP status, Cloudflare code).
ENGINE_ERRORS: dict[str, tuple[int, int]] = {
    "instance.not_found": (404, 10501),
    "step.not_found": (404, 10501),
    "workflow.not_found": (404, 10500),
    "instance.already_exists": (409, 10405),
    "instance.invalid_transition": (409, 10406),
    "payload_too_large": (413, INVALID_INPUT),
    "invalid_input": (400, INVALID_INPUT),
    "invalid_step": (400, INVALID_INPUT),
}


@dataclasses.dataclass(frozen=True)
class ErrorBody:
    status: int
    errors: list[dict[str, Any]]
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


def _location(loc: Any) -> str:
    parts = [str(p) for p in loc]
    if len(parts) >= 2 and parts[0] == "body":
        # ninja puts the view's parameter name second; clients never see it.
        parts = ["body", *parts[2:]]
    return ".".join(parts)


# --- one classifier per family: the exception → its status, errors and headers ------


def _api_error(exc: ApiError) -> ErrorBody:
    return ErrorBody(exc.status, [{"code": exc.code, "message": exc.message}], exc.headers)


def _quota_exceeded(exc: QuotaExceededError) -> ErrorBody:
    """The plan's daily invocations or storage."""
    return ErrorBody(
        429, [{"code": RATE_LIMITED, "message": str(exc)}], {"Retry-After": str(exc.retry_after)}
    )


def _workflow_error(exc: WorkflowError) -> ErrorBody:
    status, code = ENGINE_ERRORS.get(exc.code, (400, INVALID_INPUT))
    return ErrorBody(status, [{"code": code, "message": str(exc)}])


def _validation_error(exc: ValidationError) -> ErrorBody:
    errors = []
    for error in exc.errors[:20]:
        where = _location(error.get("loc", ()))
        message = str(error.get("msg", "invalid value"))
        if error.get("type") == "extra_forbidden":
            message = "unknown field"
        errors.append({"code": INVALID_INPUT, "message": f"{where}: {message}"})
    return ErrorBody(400, errors or [{"code": INVALID_INPUT, "message": "Invalid input"}])


def _body_too_big(exc: RequestDataTooBig) -> ErrorBody:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    message = f"Request body too large: the limit is {limit} bytes"
    return ErrorBody(413, [{"code": INVALID_INPUT, "message": message}])


def _not_authenticated(exc: AuthenticationError) -> ErrorBody:
    message = "Missing Authorization header: send 'Authorization: Bearer <token>'"
    return ErrorBody(401, [{"code": AUTH_ERROR, "message": message}])


def _forbidden(exc: AuthorizationError) -> ErrorBody:
    return ErrorBody(403, [{"code": AUTH_ERROR, "message": str(exc)}])


def _http_error(exc: HttpError) -> ErrorBody:
    return ErrorBody(exc.status_code, [{"code": INVALID_INPUT, "message": str(exc)}])


def _no_route(exc: Http404) -> ErrorBody:
    return ErrorBody(404, [{"code": 7000, "message": "No route for that URI"}])


def _internal(exc: Exception) -> ErrorBody:
    logger.error("Unhandled API error", exc_info=exc)
    return ErrorBody(500, [{"code": INTERNAL_ERROR, "message": "Internal server error"}])


# ninja picks the handler of the nearest class in the exception's MRO, so a
# subclass (QuotaExceededError, AuthenticationError) wins over its family.
# HttpError has its own handler (below): it may carry the real error as its cause.
CLASSIFIERS: dict[type[Exception], Callable[[Any], ErrorBody]] = {
    ApiError: _api_error,
    QuotaExceededError: _quota_exceeded,
    WorkflowError: _workflow_error,
    ValidationError: _validation_error,
    RequestDataTooBig: _body_too_big,
    AuthenticationError: _not_authenticated,
    AuthorizationError: _forbidden,
    Http404: _no_route,
    Exception: _internal,
}


def envelope_error(errors: list[dict[str, Any]]) -> dict[str, Any]:
    return {"success": False, "errors": errors, "messages": [], "result": None}


def _respond(
    request: HttpRequest,
    exc: Exception,
    *,
    api: NinjaAPI,
    classify: Callable[[Any], ErrorBody],
) -> HttpResponse:
    """The one envelope every error is answered with."""
    body = classify(exc)
    response = api.create_response(request, envelope_error(body.errors), status=body.status)
    for name, value in body.headers.items():
        response[name] = value
    if body.status == 409:
        # Stainless-generated SDKs (the official Python one) retry 409s by default;
        # a conflict here is final, so tell them not to.
        response["x-should-retry"] = "false"
    return response


def _respond_http_error(request: HttpRequest, exc: HttpError, *, api: NinjaAPI) -> HttpResponse:
    cause = exc.__cause__
    if isinstance(cause, Exception) and not isinstance(cause, HttpError):
        # ninja wraps whatever the body parser raised; the cause says what went wrong.
        return api.on_exception(request, cause)
    return _respond(request, exc, api=api, classify=_http_error)


def register_exception_handlers(api: NinjaAPI) -> None:
    """One handler per family, all answering with the Cloudflare envelope."""
    for exc_class, classify in CLASSIFIERS.items():
        api.add_exception_handler(exc_class, partial(_respond, api=api, classify=classify))
    api.add_exception_handler(HttpError, partial(_respond_http_error, api=api))

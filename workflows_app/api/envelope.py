"""Cloudflare's response envelope, on every response of the API, errors included.

``{"success", "errors": [{"code", "message"}], "messages": [], "result", "result_info"?}``.
Views return ``ok(result)``; errors come from the exception handler in errors.py.
Requests that never reach a view (an unknown path, a method a path does not
take) are wrapped by ``EnvelopeMiddleware``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import Schema

from .errors import envelope_error

API_PREFIX = "/client/v4/"
T = TypeVar("T")


class MessageOut(Schema):
    code: int
    message: str


class ResultInfoOut(Schema):
    page: int | None = None
    per_page: int
    count: int
    total_count: int | None = None
    total_pages: int | None = None
    cursor: str | None = None


class Envelope[T](Schema):
    success: bool
    errors: list[MessageOut]
    messages: list[MessageOut]
    result: T
    result_info: ResultInfoOut | None = None


class ErrorEnvelope(Schema):
    success: bool
    errors: list[MessageOut]
    messages: list[MessageOut]
    result: None = None


def ok(result: Any, *, result_info: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"success": True, "errors": [], "messages": [], "result": result}
    if result_info is not None:
        body["result_info"] = result_info
    return body


# Statuses every route may answer with; listed in the OpenAPI schema of each operation.
ERROR_RESPONSES: dict[int, Any] = {
    400: ErrorEnvelope,
    401: ErrorEnvelope,
    403: ErrorEnvelope,
    404: ErrorEnvelope,
    409: ErrorEnvelope,
    413: ErrorEnvelope,
    415: ErrorEnvelope,
    429: ErrorEnvelope,
}


class EnvelopeMiddleware:
    """Wraps the API's non-JSON error responses (Django's 404, ninja's 405) in the envelope."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            not request.path.startswith(API_PREFIX)
            or response.status_code < 400
            or response.get("Content-Type", "").startswith("application/json")
        ):
            return response
        if response.status_code == 404:
            error = {"code": 7000, "message": "No route for that URI"}
        elif response.status_code == 405:
            allowed = response.get("Allow", "")
            error = {"code": 7001, "message": f"Method not allowed; this route takes {allowed}"}
        elif response.status_code == 413:
            error = {"code": 10001, "message": "Request body too large"}
        elif response.status_code >= 500:
            error = {"code": 10002, "message": "Internal server error"}
        else:
            error = {"code": 10001, "message": "Bad request"}
        wrapped = JsonResponse(envelope_error([error]), status=response.status_code)
        if "Allow" in response:
            wrapped["Allow"] = response["Allow"]
        return wrapped


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)

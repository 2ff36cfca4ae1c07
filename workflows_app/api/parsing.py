"""Strict reading of JSON request bodies.

Everything a client sends is checked here before any view runs: the content
type, the size (Django's DATA_UPLOAD_MAX_MEMORY_SIZE), UTF-8, then the shared
checks of ``workflows_app.validation`` (JSON syntax, NaN/Infinity, depth,
over-long integers, NUL characters and lone surrogates), which the console
applies too. Errors carry their HTTP status, so the exception handler can
answer 400, 413 or 415 precisely.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.datastructures import MultiValueDict
from ninja.parser import Parser

from workflows_app import validation
from workflows_app.engine.errors import InvalidInputError

from .errors import invalid_input

JSON_TYPES = ("application/json",)
MAX_JSON_DEPTH = validation.MAX_JSON_DEPTH


def _check_text(text: str, where: str) -> None:
    try:
        validation.check_text(text, where)
    except InvalidInputError as exc:
        raise invalid_input(str(exc)) from None


def read_json_body(request: HttpRequest, *, empty: Any = None) -> Any:
    """The request's JSON body as Python values (``empty`` if there is no body)."""
    raw = request.body  # RequestDataTooBig past DATA_UPLOAD_MAX_MEMORY_SIZE → 413
    if not raw.strip():
        return empty
    content_type = request.content_type or ""
    if content_type and content_type not in JSON_TYPES and not content_type.endswith("+json"):
        raise invalid_input(
            f"Unsupported Content-Type {content_type[:80]!r}: send application/json", status=415
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise invalid_input(f"The body is not valid UTF-8 (byte {exc.start})") from None
    try:
        return validation.loads_json(text, where="body")
    except InvalidInputError as exc:
        raise invalid_input(str(exc)) from None


class StrictJsonParser(Parser):
    """ninja's body parser, made strict (ninja re-raises our errors as their cause)."""

    def parse_body(self, request: HttpRequest) -> Any:
        return read_json_body(request, empty={})

    def parse_querydict(
        self, data: MultiValueDict, list_fields: list[str], request: HttpRequest
    ) -> dict[str, Any]:
        # PostgreSQL rejects NUL in any text parameter: refuse it here, as a 400.
        for key, values in data.lists():
            for value in [key, *values]:
                _check_text(value, f"query.{key[:40]}")
        return super().parse_querydict(data, list_fields, request)

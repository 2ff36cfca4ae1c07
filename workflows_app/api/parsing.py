"""Strict reading of JSON request bodies.

Everything a client sends is checked here before any view runs: the content
type, the size (Django's DATA_UPLOAD_MAX_MEMORY_SIZE), UTF-8, JSON syntax,
NaN/Infinity, NUL characters and lone surrogates. Errors carry their HTTP status,
so the exception handler can answer 400, 413 or 415 precisely.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest
from django.utils.datastructures import MultiValueDict
from ninja.parser import Parser

from .errors import invalid_input

JSON_TYPES = ("application/json",)
# Deeper documents are refused up front, so no later json.dumps (the engine's,
# the database adapter's) can hit Python's recursion limit on client data.
MAX_JSON_DEPTH = 100


def _check_strings(value: Any, where: str, depth: int = 0) -> None:
    if depth > MAX_JSON_DEPTH:
        raise invalid_input(f"{where[:80]}: nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, str):
        _check_text(value, where)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, f"{where} (a key)")
            _check_strings(item, f"{where}.{key}"[:200], depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_strings(item, f"{where}[{index}]", depth + 1)


def _check_text(text: str, where: str) -> None:
    if "\x00" in text:
        raise invalid_input(f"{where}: contains a NUL character (\\u0000), which cannot be stored")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise invalid_input(
            f"{where}: contains a lone surrogate (an unpaired \\ud800-\\udfff escape)"
        ) from None


def _reject_constant(name: str) -> Any:
    raise invalid_input(f"Malformed JSON body: {name} is not valid JSON")


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
        value = json.loads(text, parse_constant=_reject_constant)
        _check_strings(value, "body")
    except json.JSONDecodeError as exc:
        raise invalid_input(
            f"Malformed JSON body: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise invalid_input(
            f"Malformed JSON body: nested deeper than {MAX_JSON_DEPTH} levels"
        ) from None
    return value


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

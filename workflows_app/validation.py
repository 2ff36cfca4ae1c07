"""The checks every interface applies to what a client sends: text and JSON.

One source for the REST API (``api.parsing``) and the console (``console.inputs``),
so both refuse the same input with the same words. Each check raises
``InvalidInputError`` (a 400 on every interface) naming where the problem is:

* text: NUL characters (PostgreSQL cannot store them) and lone surrogates;
* JSON: syntax, NaN/Infinity, nesting deeper than ``MAX_JSON_DEPTH``, integers
  longer than Python's int-string limit, and the text checks on every key and string.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from workflows_app.engine.errors import InvalidInputError

# Deeper documents are refused up front, so no later json.dumps (the engine's,
# the database adapter's) can hit Python's recursion limit on client data.
MAX_JSON_DEPTH = 100


def check_text(text: str, where: str) -> str:
    """``text`` if it can be stored; InvalidInputError naming ``where`` otherwise."""
    if "\x00" in text:
        raise InvalidInputError(
            f"{where}: contains a NUL character (\\u0000), which cannot be stored"
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInputError(
            f"{where}: contains a lone surrogate (an unpaired \\ud800-\\udfff escape)"
        ) from None
    return text


def check_json_value(value: Any, where: str, depth: int = 0) -> None:
    """Every key and string of a decoded JSON value, and its depth."""
    if depth > MAX_JSON_DEPTH:
        raise InvalidInputError(f"{where[:80]}: nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, str):
        check_text(value, where)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(key, f"{where} (a key)")
            check_json_value(item, f"{where}.{key}"[:200], depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_json_value(item, f"{where}[{index}]", depth + 1)


def _reject_constant(name: str) -> Any:
    raise InvalidInputError(f"{name} is not valid JSON")


def loads_json(text: str, *, where: str) -> Any:
    """``text`` decoded as strict JSON and checked; InvalidInputError saying what is wrong."""
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except InvalidInputError as exc:
        raise InvalidInputError(f"Malformed JSON {where}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise InvalidInputError(
            f"Malformed JSON {where}: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise InvalidInputError(
            f"Malformed JSON {where}: nested deeper than {MAX_JSON_DEPTH} levels"
        ) from None
    except ValueError:
        # json.loads raises a plain ValueError for an integer past Python's
        # int-string conversion limit (4,300 digits by default).
        raise InvalidInputError(
            f"Malformed JSON {where}: an integer has more than "
            f"{sys.get_int_max_str_digits()} digits"
        ) from None
    try:
        check_json_value(value, where)
    except RecursionError:
        raise InvalidInputError(
            f"Malformed JSON {where}: nested deeper than {MAX_JSON_DEPTH} levels"
        ) from None
    return value

"""What may be persisted: JSON values within size limits, and errors as data."""

import builtins
import importlib
import json
import re
import traceback
from typing import Any

from .errors import NotPersistableError, StepError, WorkflowError

MAX_VALUE_BYTES = 1024 * 1024  # 1 MiB, Cloudflare's limit for outputs, params and payloads
# json.dumps writes a NUL character as the escape \u0000 (which PostgreSQL's jsonb
# rejects); an escaped backslash before "u0000" (an even run of backslashes) is not one.
_ESCAPED_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def encoded_size(value: Any) -> int:
    """Bytes of ``value`` as stored; raises NotPersistableError for non-JSON values."""
    try:
        text = json.dumps(value, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise NotPersistableError(f"it is not JSON-serialisable ({exc})") from exc
    if _ESCAPED_NUL.search(text):
        raise NotPersistableError("it contains a NUL character, which cannot be stored")
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise NotPersistableError("it contains a lone surrogate, which cannot be stored") from exc


def check_persistable(value: Any, *, what: str, limit: int = MAX_VALUE_BYTES) -> int:
    """Return the encoded size, or raise NotPersistableError with a message that says why."""
    try:
        size = encoded_size(value)
    except NotPersistableError as exc:
        raise NotPersistableError(f"{what} cannot be stored: {exc}") from exc
    if size > limit:
        raise NotPersistableError(
            f"{what} is too large: {size} bytes, the maximum is {limit} bytes (1 MiB)"
        )
    return size


def error_to_dict(exc: BaseException) -> dict[str, Any]:
    """Errors are stored as data: class name, module, message and traceback."""
    name = exc.name if isinstance(exc, WorkflowError) else type(exc).__name__
    module = type(exc).__module__
    if isinstance(exc, StepError):
        module = ""  # its original class is already known to be unrebuildable
    return {
        "name": name,
        "module": module,
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(exc)),
    }


def error_from_dict(data: dict[str, Any]) -> BaseException:
    """Rebuild a stored error with its original class when the class can be rebuilt.

    Used on first execution and on replay alike, so ``except SomeError`` in run()
    behaves identically both times. Classes whose constructor does not take a
    single message arrive as StepError carrying the original name.
    """
    name, module, message = data.get("name", "Error"), data.get("module", ""), data["message"]
    cls: Any = None
    if module == "builtins":
        cls = getattr(builtins, name, None)
    elif module:
        try:
            cls = getattr(importlib.import_module(module), name, None)
        except Exception:  # the module may be gone after a deploy
            cls = None
    if isinstance(cls, type) and issubclass(cls, Exception) and cls is not StepError:
        try:
            rebuilt = cls(message)
        except Exception:
            rebuilt = None
        if rebuilt is not None and str(rebuilt) == message:
            return rebuilt
    return StepError(message, original_name=name)


def public_error(data: dict[str, Any] | None) -> dict[str, str] | None:
    """The ``{name, message}`` shape shown by status() and the REST API."""
    if data is None:
        return None
    return {"name": data.get("name", "Error"), "message": data.get("message", "")}

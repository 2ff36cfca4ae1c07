"""What the console accepts from a browser: the REST API's checks, answered as a page.

Every console request's path segments, query parameters and form fields go
through ``workflows_app.validation`` (the API's own checks) before the view
runs, and JSON typed into a form is decoded by the same strict reader as an
API body. A refusal is a 400 page that says which field is wrong and why, never
a 500 from the database.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from workflows_app import validation
from workflows_app.engine.errors import InvalidInputError

# How the URL's parts are named in messages.
_SEGMENTS = {
    "account_id": "account id",
    "workflow_name": "workflow",
    "instance_id": "instance id",
    "action": "action",
}
# The longest decimal text read as a number (page numbers, keys): below 2**63.
MAX_NUMBER_DIGITS = 18


def check_request(request: HttpRequest, view_kwargs: dict[str, Any]) -> None:
    """Every path segment, query parameter and form field (InvalidInputError on a bad one)."""
    for name, value in view_kwargs.items():
        if isinstance(value, str):
            validation.check_text(value, f"The {_SEGMENTS.get(name, name)} in the address")
    sources = [("query parameter", request.GET)]
    if request.method == "POST":
        sources.append(("form field", request.POST))
    for kind, data in sources:
        for key, values in data.lists():
            validation.check_text(key, f"A {kind} name")
            for value in values:
                validation.check_text(value, f"The {kind} {key[:40]!r}")


def json_field(text: str, *, field: str) -> Any:
    """A form field's JSON, read exactly as the REST API reads a body."""
    return validation.loads_json(text, where=f"in {field}")


def small_int(text: str | None) -> int | None:
    """A non-negative decimal number of reasonable size, or None (never an error)."""
    if text and text.isascii() and text.isdigit() and len(text) <= MAX_NUMBER_DIGITS:
        return int(text)
    return None


def bad_request(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "workflows/bad_request.html", {"message": message}, status=400)


class ConsoleInputMiddleware:
    """Applies ``check_request`` to console views, and answers InvalidInputError with a 400 page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    @staticmethod
    def _is_console(request: HttpRequest) -> bool:
        match = request.resolver_match
        return match is not None and match.app_name == "console"

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., HttpResponse],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponse | None:
        if not self._is_console(request):
            return None
        try:
            check_request(request, view_kwargs)
        except InvalidInputError as exc:
            return bad_request(request, str(exc))
        return None

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        # Views raise InvalidInputError for input they refuse outside a service call
        # (a form's JSON, the bulk form's filters): a 400 page, as above.
        if self._is_console(request) and isinstance(exception, InvalidInputError):
            return bad_request(request, str(exception))
        return None

"""Bearer-token authentication, and the access_* helpers every view goes through.

Security lookups are funnelled here (Zulip's pattern): a view never fetches an
account, workflow or instance by itself. A token only ever sees its own
account; asking for another account's objects gets exactly the answer a
missing object gets, so ids of other tenants cannot be probed.
"""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer

from workflows_app import selectors, services, throttle
from workflows_app.engine.registry import MAX_WORKFLOW_NAME, WORKFLOW_NAME_RE
from workflows_app.models import ACCOUNT_ID_PATTERN, Account, ApiToken, Instance, Workflow

from .errors import (
    AUTH_ERROR,
    RATE_LIMITED,
    ApiError,
    account_not_found,
    invalid_input,
    not_authenticated,
)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
INVALID_TOKEN = "Invalid API token"
_ACCOUNT_ID_RE = re.compile(ACCOUNT_ID_PATTERN)


class BearerAuth(HttpBearer):
    """``Authorization: Bearer <token>``; the token's row becomes ``request.auth``."""

    def __call__(self, request: HttpRequest) -> ApiToken:
        header = request.headers.get("Authorization")
        if not header:
            raise not_authenticated(
                "Missing Authorization header: send 'Authorization: Bearer <token>'"
            )
        scheme, _, secret = header.partition(" ")
        try:
            if scheme.lower() != "bearer" or not secret.strip():
                raise not_authenticated("Malformed Authorization header: expected 'Bearer <token>'")
            return self.authenticate(request, secret.strip())
        except ApiError:
            # Failures are throttled per client address and per token prefix (429 +
            # Retry-After). Only failures touch the throttle's cache: a valid token
            # costs nothing extra, and a client locked out by someone guessing from
            # the same address keeps working with its real token.
            found = throttle.subjects(
                request, kind="api", name=secret.strip()[: services.TOKEN_DISPLAY_CHARS]
            )
            wait = throttle.retry_after(found)
            if wait is not None:
                raise ApiError(
                    429,
                    RATE_LIMITED,
                    f"Too many failed authentication attempts: try again in {wait} seconds",
                    headers={"Retry-After": str(wait)},
                ) from None
            throttle.record_failure(found)
            raise

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken:
        if len(token) > 200 or not token.isascii():
            raise not_authenticated(INVALID_TOKEN)
        try:
            api_token = selectors.token_authenticate(secret=token)
        except selectors.TokenRejectedError:
            # One message for unknown, revoked and expired tokens: a 401 never
            # confirms that a leaked secret was once a real token.
            raise not_authenticated(INVALID_TOKEN) from None
        services.token_touch(token=api_token)
        return api_token


def request_token(request: HttpRequest) -> ApiToken:
    token: Any = getattr(request, "auth", None)
    if not isinstance(token, ApiToken):  # every route is authenticated; belt and braces
        raise not_authenticated("Not authenticated")
    return token


def actor(request: HttpRequest) -> str:
    return f"token:{request_token(request).prefix}"


def access_account(request: HttpRequest, account_id: str) -> Account:
    """The token's account if it is ``account_id``; a 404 otherwise (also for writes)."""
    token = request_token(request)
    if not _ACCOUNT_ID_RE.fullmatch(account_id) or token.account_id != account_id:
        raise account_not_found(account_id)
    if token.read_only and request.method not in SAFE_METHODS:
        raise ApiError(403, AUTH_ERROR, "This API token is read-only; it cannot make changes")
    return token.account


def check_workflow_name(name: str) -> str:
    if len(name) > MAX_WORKFLOW_NAME or not WORKFLOW_NAME_RE.fullmatch(name):
        raise invalid_input(
            f"Invalid workflow name {name[:80]!r}: use lowercase letters, digits and "
            f"hyphens, at most {MAX_WORKFLOW_NAME} characters"
        )
    return name


def access_workflow(request: HttpRequest, account_id: str, workflow_name: str) -> Workflow:
    """An enabled workflow of the token's account (404 if not enabled or not visible)."""
    account = access_account(request, account_id)
    return selectors.workflow_get(account=account, name=check_workflow_name(workflow_name))


def access_instance(
    request: HttpRequest, account_id: str, workflow_name: str, instance_id: str
) -> Instance:
    workflow = access_workflow(request, account_id, workflow_name)
    return selectors.instance_get(workflow=workflow, instance_id=instance_id)

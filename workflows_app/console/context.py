"""Template context shared by every console page."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest

from workflows_app import selectors
from workflows_app.console.access import access_account, memberships_of


def _pending_count(request: HttpRequest) -> int | None:
    account_id = (request.resolver_match.kwargs if request.resolver_match else {}).get("account_id")
    if not account_id:
        return None
    try:
        access = access_account(request.user, account_id)
    except Http404:
        return None
    return selectors.pending_approvals(account=access.account).count()


def console(request: HttpRequest) -> dict[str, Any]:
    """Account switcher entries and the approvals badge (lazy: queried only when shown)."""
    if not request.user.is_authenticated:
        return {}
    return {
        "poll_seconds": settings.CONSOLE_POLL_SECONDS,
        "user_accounts": lambda: memberships_of(request.user),
        "pending_count": lambda: _pending_count(request),
    }

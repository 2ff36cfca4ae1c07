"""Usage & billing: the page and its CSV export (account admins only)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from workflows_app.console import usage_page
from workflows_app.console.access import Capability, access_account
from workflows_app.engine import clock


@login_required
@require_GET
def usage(request: HttpRequest, account_id: str) -> HttpResponse:
    access = access_account(request.user, account_id, Capability.ADMIN)
    now = clock.now()
    period = usage_page.parse_period(request.GET.get("period", ""), today=now.date())
    return render(
        request,
        "workflows/usage.html",
        {
            "access": access,
            "usage": usage_page.usage_page(account=access.account, period=period, now=now),
        },
    )


@login_required
@require_GET
def usage_csv(request: HttpRequest, account_id: str) -> HttpResponse:
    access = access_account(request.user, account_id, Capability.ADMIN)
    today = clock.now().date()
    period = usage_page.parse_period(request.GET.get("period", ""), today=today)
    body = usage_page.usage_csv(account=access.account, period=period, today=today)
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    filename = f"usage-{access.account.pk}-{period.label}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response

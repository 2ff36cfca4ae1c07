"""Read-only pages: overview, instances list and detail, audit log."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET
from django_htmx.middleware import HtmxDetails

from workflows_app import selectors
from workflows_app.console import present
from workflows_app.console.access import (
    Capability,
    access_account,
    access_instance,
    memberships_of,
)
from workflows_app.console.filters import instance_filters_parse, instance_filters_query
from workflows_app.console.inputs import small_int
from workflows_app.models import TERMINAL_STATUSES, InstanceStatus
from workflows_app.selectors.console import PAGE_SIZE


class HtmxHttpRequest(HttpRequest):
    """What django-htmx's middleware adds to every request."""

    htmx: HtmxDetails


ACTION_LABELS = [
    ("pause", "Pause"),
    ("resume", "Resume"),
    ("terminate", "Terminate"),
    ("restart", "Restart"),
    ("send-event", "Send event"),
]


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    accounts = memberships_of(request.user)
    if not accounts:
        return render(request, "workflows/no_account.html", status=403)
    return redirect("console:overview", account_id=accounts[0].account.pk)


@login_required
@require_GET
def overview(request: HttpRequest, account_id: str) -> HttpResponse:
    access = access_account(request.user, account_id)
    return render(
        request,
        "workflows/overview.html",
        {
            "access": access,
            "overview": selectors.overview(account=access.account),
            "statuses": InstanceStatus.values,
        },
    )


@login_required
@require_GET
def instance_list(request: HtmxHttpRequest, account_id: str) -> HttpResponse:
    access = access_account(request.user, account_id)
    filters = instance_filters_parse(request.GET)
    page = selectors.instance_page(
        account=access.account, filters=filters, cursor=request.GET.get("after", "")
    )
    context = {
        "access": access,
        "filters": filters,
        "filters_query": instance_filters_query(filters),
        "page": page,
        "activities": present.activities_of(page.rows),
        "counts": selectors.status_counts(account=access.account, filters=filters),
        "workflow_names": selectors.workflow_names(account=access.account),
        "statuses": InstanceStatus.values,
        "can_operate": access.can(Capability.OPERATE),
    }
    template = "workflows/instances.html"
    if request.htmx:
        template += "#results"
    response = render(request, template, context)
    response["Vary"] = "HX-Request"
    return response


@login_required
@require_GET
def instance_detail(
    request: HtmxHttpRequest, account_id: str, workflow_name: str, instance_id: str
) -> HttpResponse:
    access = access_account(request.user, account_id)
    instance = access_instance(access, workflow_name, instance_id)
    step_page = present.step_page(
        instance=instance, number=small_int(request.GET.get("steps_page"))
    )
    context = {
        "access": access,
        "instance": instance,
        "step_page": step_page,
        "steps": step_page.steps,
        "cpu": present.instance_cpu(account=access.account, instance=instance),
        "activity": present.activities_of([instance]).get(instance.pk, ""),
        "live": instance.status not in TERMINAL_STATUSES,
        "can_operate": access.can(Capability.OPERATE),
        "action_labels": ACTION_LABELS,
    }
    template = "workflows/instance_detail.html"
    if request.htmx:
        template += "#live"
    return render(request, template, context)


@login_required
@require_GET
def audit_log(request: HttpRequest, account_id: str) -> HttpResponse:
    access = access_account(request.user, account_id)
    entries = selectors.audit_page(
        account=access.account, before=small_int(request.GET.get("before"))
    )
    return render(
        request,
        "workflows/audit.html",
        {
            "access": access,
            "entries": entries,
            "next_before": entries[-1].pk if len(entries) == PAGE_SIZE else None,
        },
    )

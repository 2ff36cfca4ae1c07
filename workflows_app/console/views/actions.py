"""Writes from the console: plain POST forms (they work without JavaScript).

Each action requires the right role, records the reason in the audit log
through the service, and redirects back (post/redirect/get).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from workflows_app import selectors, services
from workflows_app.console.access import Capability, access_account, access_instance
from workflows_app.console.filters import instance_filters_parse, instance_filters_query
from workflows_app.console.inputs import json_field, small_int
from workflows_app.engine.errors import WorkflowError


def _actor(request: HttpRequest) -> str:
    return f"user:{request.user.get_username()}"


@login_required
@require_POST
def instance_action(
    request: HttpRequest, account_id: str, workflow_name: str, instance_id: str, action: str
) -> HttpResponse:
    access = access_account(request.user, account_id, Capability.OPERATE)
    instance = access_instance(access, workflow_name, instance_id)
    reason = request.POST.get("reason", "").strip()[:2000]
    if action == "send-event":
        # The REST API's reader: depth, NaN, NUL and over-long integers are a 400 page.
        payload = json_field(request.POST.get("payload", "").strip() or "null", field="payload")
    try:
        if action in services.LIFECYCLE_ACTIONS:
            # Only the restart form has a "from_step" field ("name#count", or "" for the top).
            step = request.POST.get("from_step", "") if action == "restart" else ""
            services.instance_set_status(
                instance=instance,
                action=action,
                from_step=services.RestartPoint.parse(step) if step else None,
                actor=_actor(request),
                reason=reason,
            )
        elif action == "send-event":
            services.event_send(
                instance=instance,
                event_type=request.POST.get("event_type", ""),
                payload=payload,
                actor=_actor(request),
                reason=reason,
            )
        else:
            raise Http404("No such action")
    except WorkflowError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{action.replace('-', ' ').capitalize()}: done.")
    return redirect(
        "console:instance",
        account_id=account_id,
        workflow_name=workflow_name,
        instance_id=instance_id,
    )


@login_required
@require_GET
def approvals(request: HttpRequest, account_id: str) -> HttpResponse:
    access = access_account(request.user, account_id)
    pending = list(selectors.pending_approvals(account=access.account)[:200])
    return render(
        request,
        "workflows/approvals.html",
        {
            "access": access,
            "pending": pending,
            "can_approve": access.can(Capability.APPROVE),
        },
    )


@login_required
@require_POST
def approval_decide(request: HttpRequest, account_id: str, step_pk: int) -> HttpResponse:
    access = access_account(request.user, account_id, Capability.APPROVE)
    step = selectors.approval_get(account=access.account, step_pk=step_pk)
    if step is None:
        raise Http404("No such approval")
    try:
        services.approval_decide(
            step=step,
            outcome=request.POST.get("decision", ""),
            comment=request.POST.get("comment", "").strip()[:2000],
            by=request.user.get_username(),
        )
    except WorkflowError as exc:
        messages.error(request, str(exc))
    else:
        done = {"approve": "Approved", "reject": "Rejected"}[request.POST["decision"]]
        messages.success(
            request, f"{done} {step.instance.workflow.name}/{step.instance.instance_id}."
        )
    return redirect("console:approvals", account_id=account_id)


@login_required
@require_GET
def approvals_badge(request: HttpRequest, account_id: str) -> HttpResponse:
    """The live count in the navigation (polled)."""
    access = access_account(request.user, account_id)
    # pending_count comes from the console context processor, as on every page.
    return render(request, "workflows/base.html#approvals-badge", {"access": access})


@login_required
@require_POST
def bulk_action(request: HttpRequest, account_id: str) -> HttpResponse:
    """Pause/resume/terminate/restart the selected rows, or every instance matching the filter."""
    access = access_account(request.user, account_id, Capability.OPERATE)
    filters = instance_filters_parse(QueryDict(request.POST.get("filters", "")))
    back = f"{reverse('console:instances', args=[account_id])}?{instance_filters_query(filters)}"
    if request.POST.get("confirm") != "yes":
        messages.error(request, "Tick the confirmation box to apply a bulk action.")
        return redirect(back)
    if request.POST.get("scope") == "matching":
        # One more than the cap, so an oversized batch is refused rather than cut short.
        instances = selectors.instances_matching(
            account=access.account, filters=filters, limit=services.BULK_LIMIT + 1
        )
    else:
        pks = [str(pk) for pk in map(small_int, request.POST.getlist("selected")) if pk]
        instances = selectors.instances_by_pk(account=access.account, pks=pks)
    if not instances:
        messages.error(request, "No instance was selected.")
        return redirect(back)
    try:
        done, failures = services.instances_bulk_action(
            instances=instances,
            action=request.POST.get("action", ""),
            actor=_actor(request),
            reason=request.POST.get("reason", "").strip()[:2000],
        )
    except WorkflowError as exc:
        messages.error(request, str(exc))
        return redirect(back)
    messages.success(request, f"{request.POST['action'].capitalize()}: {done} instance(s).")
    for failure in failures[:20]:
        messages.warning(request, failure)
    return redirect(back)

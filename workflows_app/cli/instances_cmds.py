"""workflows instances list|describe|send-event|pause|resume|terminate|restart|delete."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError

from workflows_app import presenters, selectors, services
from workflows_app.engine import clock
from workflows_app.engine.errors import WorkflowError

from .common import CLI_ACTOR, engine_errors, instance_for, parse_json_arg, workflow_for
from .output import Output, cell, truncate


@engine_errors
def instance_list(out: Output, options: dict[str, Any]) -> None:
    workflow = workflow_for(options)
    start = options.get("date_start")
    end = options.get("date_end")
    page = selectors.instance_list(
        workflow=workflow,
        status=options.get("status"),
        date_start=selectors.parse_time_bound(start, what="--date-start", end=False)
        if start
        else None,
        date_end=selectors.parse_time_bound(end, what="--date-end", end=True) if end else None,
        page=options["page"],
        per_page=options["per_page"],
        direction="asc" if options.get("reverse") else "desc",
    )
    views = [presenters.instance_list_item(i) for i in page.instances]

    def render(views: list[dict[str, Any]]) -> None:
        out.table(
            ["id", "status", "created", "started", "ended"],
            [
                [v["id"], v["status"], v["created_on"], v["started_on"], v["ended_on"]]
                for v in views
            ],
        )
        if page.total_count is not None and page.total_count > len(views):
            out.line(f"\nPage {page.page}: {len(views)} of {page.total_count} instances.")

    out.result(views, render)


@engine_errors
def instance_describe(out: Output, options: dict[str, Any]) -> None:
    workflow = workflow_for(options)
    view = presenters.instance_view(instance_for(workflow, options.get("id") or "latest"))
    limit = options["truncate_output_limit"]
    show_output = options["step_output"]

    def render(_: dict[str, Any]) -> None:
        out.fields(
            [
                ("Instance", view.instance_id),
                ("Workflow", view.workflow_name),
                ("Status", view.status),
                ("Trigger", view.trigger_source),
                ("Queued", view.queued),
                ("Started", view.start),
                ("Ended", view.end),
                ("Params", truncate(view.params, limit)),
                ("Output", truncate(view.output, limit)),
                ("Error", _error(view.error)),
                ("Steps", len(view.steps)),
            ]
        )
        if view.steps:
            out.line()
            out.table(
                ["type", "name", "state", "start", "end", "output"],
                [
                    [
                        step.label,
                        step.key,
                        step.state,
                        step.start,
                        step.shown_end,
                        truncate(step.output, limit) if show_output else "",
                    ]
                    for step in view.steps
                ],
            )
            for step in view.steps:
                for number, attempt in enumerate(step.attempts, start=1):
                    if attempt.error:
                        out.line(f"  {step.key} attempt {number}: {_error(attempt.error)}")

    out.result(presenters.instance_detail(view), render)


def _error(error: presenters.ErrorView | None) -> str:
    return f"{error.name}: {error.message}" if error else "-"


@engine_errors
def instance_send_event(out: Output, options: dict[str, Any]) -> None:
    workflow = workflow_for(options)
    instance = instance_for(workflow, options["id"])
    payload = parse_json_arg(options.get("payload"), what="--payload", default={})
    services.event_send(
        instance=instance, event_type=options["type"], payload=payload, actor=CLI_ACTOR
    )
    view = {"instanceId": instance.instance_id, "timestamp": clock.now()}
    out.result(
        view,
        lambda v: out.line(f"Sent event {options['type']!r} to instance {v['instanceId']}."),
    )


@engine_errors
def instance_set_status(out: Output, options: dict[str, Any]) -> None:
    action = options["action"]
    workflow = workflow_for(options)
    instance = instance_for(workflow, options["id"])
    instance = services.instance_set_status(
        instance=instance, action=action, from_step=_restart_point(options), actor=CLI_ACTOR
    )
    view = {"status": instance.status, "timestamp": clock.now()}
    past = {"pause": "Paused", "resume": "Resumed", "terminate": "Terminated"}
    out.result(
        view,
        lambda v: out.line(
            f"{past.get(action, 'Restarted')} instance {instance.instance_id} "
            f"(now {cell(v['status'])})."
        ),
    )


def _restart_point(options: dict[str, Any]) -> services.RestartPoint | None:
    """``--from-step-name`` with its optional ``--from-step-count`` and ``--from-step-type``."""
    count, step_type = options.get("from_step_count"), options.get("from_step_type")
    if not options.get("from_step_name"):
        if count is not None or step_type:
            raise CommandError("--from-step-count and --from-step-type need --from-step-name")
        return None
    return services.RestartPoint.from_mapping(
        {"name": options["from_step_name"], "count": count, "type": step_type}
    )


@engine_errors
def instance_delete(out: Output, options: dict[str, Any]) -> None:
    workflow = workflow_for(options)
    deleted, errors = [], []
    for instance_id in options["ids"]:
        try:
            instance = instance_for(workflow, instance_id)
            services.instance_delete(instance=instance, actor=CLI_ACTOR)
        except WorkflowError as exc:
            errors.append({"id": instance_id, "code": exc.code, "message": str(exc)})
        else:
            deleted.append({"id": instance.instance_id})
    view = {"deleted": deleted, "errors": errors}

    def render(view: dict[str, Any]) -> None:
        for item in view["deleted"]:
            out.line(f"Deleted instance {item['id']}.")
        for item in view["errors"]:
            out.line(f"Could not delete {item['id']}: {item['message']}")

    out.result(view, render)
    if errors:
        raise CommandError(f"{len(errors)} instance(s) could not be deleted")

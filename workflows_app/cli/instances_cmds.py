"""workflows instances list|describe|send-event|pause|resume|terminate|restart|delete."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError

from workflows_app import selectors, services
from workflows_app.api import presenters
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
    instance = instance_for(workflow, options.get("id") or "latest")
    view = presenters.instance_detail(instance)
    limit = options["truncate_output_limit"]
    show_output = options["step_output"]

    def render(view: dict[str, Any]) -> None:
        out.fields(
            [
                ("Instance", instance.instance_id),
                ("Workflow", workflow.name),
                ("Status", view["status"]),
                ("Trigger", view["trigger"]["source"]),
                ("Queued", view["queued"]),
                ("Started", view["start"]),
                ("Ended", view["end"]),
                ("Params", truncate(view["params"], limit)),
                ("Output", truncate(view["output"], limit)),
                ("Error", _error(view["error"])),
                ("Steps", view["step_count"]),
            ]
        )
        if view["steps"]:
            out.line()
            rows = []
            for step in view["steps"]:
                state = _step_state(step)
                output = truncate(step.get("output"), limit) if show_output else ""
                rows.append([step["type"], step["name"], state, step["start"], step["end"], output])
            out.table(["type", "name", "state", "start", "end", "output"], rows)
            for step in view["steps"]:
                failures = [a for a in step.get("attempts", []) if a["error"]]
                for number, attempt in enumerate(step.get("attempts", []), start=1):
                    if attempt in failures:
                        out.line(f"  {step['name']} attempt {number}: {_error(attempt['error'])}")

    out.result(view, render)


def _error(error: dict[str, str] | None) -> str:
    return f"{error['name']}: {error['message']}" if error else "-"


def _step_state(step: dict[str, Any]) -> str:
    if step["type"] == "step":
        return {True: "succeeded", False: "failed"}.get(step["success"], "running")
    if step.get("error"):
        return "failed"
    return "finished" if step["finished"] else "waiting"


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
    if action == "pause":
        instance = services.instance_pause(instance=instance, actor=CLI_ACTOR)
    elif action == "resume":
        instance = services.instance_resume(instance=instance, actor=CLI_ACTOR)
    elif action == "terminate":
        instance = services.instance_terminate(instance=instance, actor=CLI_ACTOR)
    else:
        from_step = None
        if options.get("from_step_name"):
            from_step = {"name": options["from_step_name"]}
            if options.get("from_step_count") is not None:
                from_step["count"] = options["from_step_count"]
            if options.get("from_step_type"):
                from_step["type"] = options["from_step_type"]
        elif options.get("from_step_count") is not None or options.get("from_step_type"):
            raise CommandError("--from-step-count and --from-step-type need --from-step-name")
        instance = services.instance_restart(
            instance=instance, from_step=from_step, actor=CLI_ACTOR
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

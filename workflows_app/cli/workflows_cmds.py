"""workflows list | describe | enable | delete | trigger."""

from __future__ import annotations

from typing import Any

from workflows_app import presenters, selectors, services
from workflows_app.engine import registry

from .common import CLI_ACTOR, engine_errors, parse_json_arg, resolve_account, workflow_for
from .output import Output


@engine_errors
def workflow_list(out: Output, options: dict[str, Any]) -> None:
    account = resolve_account(options.get("account"))
    per_page, page = options["per_page"], options["page"]
    rows = list(selectors.workflow_list(account=account)[(page - 1) * per_page : page * per_page])
    views = [presenters.workflow_view(w) for w in rows]

    def render(views: list[dict[str, Any]]) -> None:
        out.table(
            ["name", "class", "instances", "triggered"],
            [
                [
                    v["name"],
                    f"{v['script_name']}.{v['class_name']}",
                    _counts(v["instances"]),
                    v["triggered_on"],
                ]
                for v in views
            ],
        )
        enabled = {v["name"] for v in views}
        others = sorted(set(registry.workflows()) - enabled)
        if others and page == 1:
            out.line()
            out.line("Registered but not enabled here (enable with `workflows enable NAME`):")
            out.line("  " + ", ".join(others))

    out.result(views, render)


def _counts(counts: dict[str, int]) -> str:
    shown = [f"{status} {n}" for status, n in counts.items() if n]
    return ", ".join(shown) or "0"


@engine_errors
def workflow_describe(out: Output, options: dict[str, Any]) -> None:
    account = resolve_account(options.get("account"))
    view = presenters.workflow_view(
        selectors.workflow_get_with_counts(account=account, name=options["name"])
    )

    def render(view: dict[str, Any]) -> None:
        out.fields(
            [
                ("Name", view["name"]),
                ("Id", view["id"]),
                ("Class", f"{view['script_name']}.{view['class_name']}"),
                ("Enabled", view["created_on"]),
                ("Last triggered", view["triggered_on"]),
                *[(f"  {status}", n) for status, n in view["instances"].items()],
            ]
        )

    out.result(view, render)


@engine_errors
def workflow_enable(out: Output, options: dict[str, Any]) -> None:
    account = resolve_account(options.get("account"))
    workflow = services.workflow_enable(account=account, name=options["name"])
    view = presenters.workflow_update_view(
        selectors.workflow_get_with_counts(account=account, name=workflow.name)
    )
    out.result(view, lambda v: out.line(f"Enabled {v['name']} for account {account.pk}."))


@engine_errors
def workflow_delete(out: Output, options: dict[str, Any]) -> None:
    workflow = workflow_for(options)
    services.workflow_delete(workflow=workflow, actor=CLI_ACTOR)
    out.result(
        {"status": "ok", "success": True},
        lambda _: out.line(f"Deleted workflow {workflow.name} and all its instances."),
    )


@engine_errors
def workflow_trigger(out: Output, options: dict[str, Any]) -> None:
    workflow = workflow_for(options)
    params = parse_json_arg(options.get("params"), what="PARAMS")
    instance = services.instance_create(
        workflow=workflow, instance_id=options.get("id"), params=params, trigger_source="api"
    )
    view = presenters.instance_summary(instance)
    out.result(
        view,
        lambda v: out.line(f"Created instance {v['id']} of {workflow.name} ({v['status']})."),
    )

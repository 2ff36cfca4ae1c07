"""The argument tree of ``manage.py workflows`` (wrangler's flags, plus accounts/tokens/users)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from workflows_app.models import InstanceStatus, Membership

from . import admin_cmds, instances_cmds, workflows_cmds

Handler = Callable[..., None]


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--account", help="account id (default: the only account)")
    common.add_argument("--json", action="store_true", help="print JSON (the API's result)")
    return common


def _leaf(
    subparsers: Any, name: str, handler: Handler, help: str, **kwargs: Any
) -> argparse.ArgumentParser:
    leaf = subparsers.add_parser(name, help=help, parents=[_common()], **kwargs)
    leaf.set_defaults(handler=handler)
    return leaf


def _pages(parser: argparse.ArgumentParser, per_page: int) -> None:
    parser.add_argument("--page", type=int, default=1)
    parser.add_argument("--per-page", type=int, default=per_page)


def build(parser: argparse.ArgumentParser, parser_class: Any) -> None:
    areas = parser.add_subparsers(dest="area", required=True, parser_class=parser_class)

    _pages(_leaf(areas, "list", workflows_cmds.workflow_list, "list enabled workflows"), 50)
    _leaf(areas, "describe", workflows_cmds.workflow_describe, "describe a workflow").add_argument(
        "name"
    )
    _leaf(
        areas, "enable", workflows_cmds.workflow_enable, "enable a registered workflow"
    ).add_argument("name")
    _leaf(
        areas, "delete", workflows_cmds.workflow_delete, "remove a workflow and its instances"
    ).add_argument("name")
    trigger = _leaf(areas, "trigger", workflows_cmds.workflow_trigger, "create an instance")
    trigger.add_argument("name")
    trigger.add_argument("params", nargs="?", default="", help="params as a JSON string")
    trigger.add_argument("--id", help="instance id (default: a UUID)")

    instances = areas.add_parser("instances", help="manage instances").add_subparsers(
        dest="action", required=True, parser_class=parser_class
    )
    listing = _leaf(instances, "list", instances_cmds.instance_list, "list instances")
    listing.add_argument("name")
    listing.add_argument("--status", choices=InstanceStatus.values)
    listing.add_argument("--date-start", help="ISO 8601 (a bare date = that whole UTC day)")
    listing.add_argument("--date-end", help="ISO 8601 (a bare date = that whole UTC day)")
    listing.add_argument("--reverse", action="store_true", help="oldest first")
    _pages(listing, 50)

    describe = _leaf(instances, "describe", instances_cmds.instance_describe, "describe")
    describe.add_argument("name")
    describe.add_argument("id", nargs="?", default="latest")
    describe.add_argument("--step-output", action=argparse.BooleanOptionalAction, default=True)
    describe.add_argument("--truncate-output-limit", type=int, default=5000)

    send = _leaf(instances, "send-event", instances_cmds.instance_send_event, "send an event")
    send.add_argument("name")
    send.add_argument("id", help="instance id or 'latest'")
    send.add_argument("--type", required=True)
    send.add_argument("--payload", default="{}", help="JSON (default {})")

    for action in ("pause", "resume", "terminate", "restart"):
        leaf = _leaf(instances, action, instances_cmds.instance_set_status, f"{action} an instance")
        leaf.set_defaults(action=action)
        leaf.add_argument("name")
        leaf.add_argument("id", help="instance id or 'latest'")
        if action == "restart":
            leaf.add_argument("--from-step-name")
            leaf.add_argument("--from-step-count", type=int)
            leaf.add_argument("--from-step-type", choices=["do", "sleep", "waitForEvent"])

    delete = _leaf(instances, "delete", instances_cmds.instance_delete, "delete instances")
    delete.add_argument("name")
    delete.add_argument("ids", nargs="+", metavar="ID")

    accounts = areas.add_parser("accounts", help="manage accounts").add_subparsers(
        dest="action", required=True, parser_class=parser_class
    )
    _leaf(accounts, "create", admin_cmds.account_create, "create an account").add_argument(
        "account_name", metavar="NAME"
    )
    _leaf(accounts, "list", admin_cmds.account_list, "list accounts")

    tokens = areas.add_parser("tokens", help="manage API tokens").add_subparsers(
        dest="action", required=True, parser_class=parser_class
    )
    create = _leaf(tokens, "create", admin_cmds.token_create, "create an API token")
    create.add_argument("--name", dest="token_name", default="cli")
    create.add_argument("--read-only", action="store_true")
    create.add_argument("--expires-in", type=int, metavar="DAYS")
    _leaf(tokens, "list", admin_cmds.token_list, "list API tokens")
    _leaf(tokens, "revoke", admin_cmds.token_revoke, "revoke an API token").add_argument(
        "token", help="the token's prefix (wfd_…) or id"
    )

    users = areas.add_parser("users", help="manage console users").add_subparsers(
        dest="action", required=True, parser_class=parser_class
    )
    add = _leaf(users, "add", admin_cmds.user_add, "add a user to an account")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=Membership.Role.values)
    add.add_argument("--password")

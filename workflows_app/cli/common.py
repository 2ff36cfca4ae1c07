"""What every CLI handler needs: the account, JSON arguments, engine errors as CommandError."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.core.management.base import CommandError

from workflows_app import selectors
from workflows_app.engine.errors import WorkflowError
from workflows_app.models import Account, Instance, Workflow

CLI_ACTOR = "cli"


def resolve_account(account_id: str | None) -> Account:
    """``--account``, or the only account when there is exactly one."""
    if account_id:
        account = selectors.account_get(account_id=account_id)
        if account is None:
            raise CommandError(f"No account {account_id!r}")
        return account
    accounts = selectors.account_list(limit=2)
    if len(accounts) == 1:
        return accounts[0]
    if not accounts:
        raise CommandError("No account exists: run `manage.py workflows accounts create NAME`")
    raise CommandError("Several accounts exist: pass --account ID")


def parse_json_arg(text: str | None, *, what: str, default: Any = None) -> Any:
    if text is None or text == "":
        return default
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandError(f"{what} is not valid JSON: {exc.msg} (column {exc.colno})") from None


def workflow_for(options: dict[str, Any]) -> Workflow:
    account = resolve_account(options.get("account"))
    return selectors.workflow_get(account=account, name=options["name"])


def instance_for(workflow: Workflow, instance_id: str) -> Instance:
    if instance_id == "latest":
        return selectors.instance_latest(workflow=workflow)
    return selectors.instance_get(workflow=workflow, instance_id=instance_id)


def engine_errors(handler: Callable[..., None]) -> Callable[..., None]:
    """Engine and validation errors become CommandError (exit status 1, one clean line)."""

    def wrapped(*args: Any, **kwargs: Any) -> None:
        try:
            handler(*args, **kwargs)
        except WorkflowError as exc:
            raise CommandError(f"{exc.code}: {exc}") from exc

    return wrapped

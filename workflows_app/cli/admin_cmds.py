"""workflows accounts create|list, tokens create|list|revoke, users add."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import CommandError

from workflows_app import selectors, services
from workflows_app.engine import clock

from .common import engine_errors, resolve_account
from .output import Output


@engine_errors
def account_create(out: Output, options: dict[str, Any]) -> None:
    account = services.account_create(name=options["account_name"])
    view = {"id": account.pk, "name": account.name, "created_on": account.created_at}
    out.result(view, lambda v: out.line(f"Created account {v['name']!r}: {v['id']}"))


def account_list(out: Output, options: dict[str, Any]) -> None:
    views = [
        {"id": a.pk, "name": a.name, "created_on": a.created_at} for a in selectors.account_list()
    ]
    out.result(
        views,
        lambda vs: out.table(
            ["id", "name", "created"], [[v["id"], v["name"], v["created_on"]] for v in vs]
        ),
    )


def _token_view(token: Any) -> dict[str, Any]:
    return {
        "id": token.pk,
        "name": token.name,
        "prefix": token.prefix,
        "account_id": token.account_id,
        "read_only": token.read_only,
        "created_on": token.created_at,
        "expires_on": token.expires_at,
        "revoked_on": token.revoked_at,
        "last_used_on": token.last_used_at,
    }


@engine_errors
def token_create(out: Output, options: dict[str, Any]) -> None:
    account = resolve_account(options.get("account"))
    days = options.get("expires_in")
    if days is not None and days <= 0:
        raise CommandError("--expires-in takes a positive number of days")
    expires_at = clock.now() + dt.timedelta(days=days) if days is not None else None
    created = services.token_create(
        account=account,
        name=options.get("token_name") or "cli",
        read_only=options["read_only"],
        expires_at=expires_at,
    )
    view = {**_token_view(created.token), "token": created.secret}

    def render(view: dict[str, Any]) -> None:
        kind = "read-only" if view["read_only"] else "read-write"
        out.line(f"Created a {kind} token for account {account.pk}:")
        out.line()
        out.line(f"    {view['token']}")
        out.line()
        out.line("Copy it now: it is stored hashed and will not be shown again.")
        if view["expires_on"]:
            out.line(f"It expires on {view['expires_on']:%Y-%m-%d %H:%M} UTC.")

    out.result(view, render)


def token_list(out: Output, options: dict[str, Any]) -> None:
    account = resolve_account(options.get("account"))
    views = [_token_view(t) for t in selectors.token_list(account=account)]
    out.result(
        views,
        lambda vs: out.table(
            ["id", "prefix", "name", "read_only", "expires", "revoked", "last_used"],
            [
                [
                    v["id"],
                    v["prefix"] + "…",
                    v["name"],
                    v["read_only"],
                    v["expires_on"],
                    v["revoked_on"],
                    v["last_used_on"],
                ]
                for v in vs
            ],
        ),
    )


@engine_errors
def token_revoke(out: Output, options: dict[str, Any]) -> None:
    account = resolve_account(options.get("account"))
    token = selectors.token_get(account=account, prefix_or_id=options["token"])
    token = services.token_revoke(token=token)
    out.result(
        _token_view(token), lambda v: out.line(f"Revoked token {v['prefix']}… ({v['name']}).")
    )


@engine_errors
def user_add(out: Output, options: dict[str, Any]) -> None:
    account = resolve_account(options.get("account"))
    user, membership, created = services.user_set(
        account=account,
        username=options["username"],
        role=options["role"],
        password=options.get("password"),
    )
    view = {
        "username": user.get_username(),
        "account_id": account.pk,
        "role": membership.role,
        "created": created,
    }
    out.result(
        view,
        lambda v: out.line(
            f"{'Created' if v['created'] else 'Updated'} user {v['username']} as "
            f"{v['role']} of account {v['account_id']}."
        ),
    )

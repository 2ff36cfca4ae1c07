"""Accounts and tokens: the REST API's and CLI's security lookups."""

from __future__ import annotations

from workflows_app.engine import clock
from workflows_app.engine.errors import (
    InvalidInputError,
    TokenRejectedError,
)
from workflows_app.models import (
    Account,
    ApiToken,
)


def account_get(*, account_id: str) -> Account | None:
    return Account.objects.filter(pk=account_id).first()


def account_list(*, limit: int | None = None) -> list[Account]:
    """Accounts, oldest first."""
    accounts = Account.objects.order_by("created_at")
    return list(accounts[:limit] if limit is not None else accounts)


def token_authenticate(*, secret: str) -> ApiToken:
    """The live token whose secret this is; TokenRejectedError otherwise.

    Lookup is by the SHA-256 of the secret, so the secret itself is never
    compared or stored.
    """
    token = (
        ApiToken.objects.select_related("account")
        .filter(token_hash=ApiToken.hash_of(secret))
        .first()
    )
    if token is None:
        raise TokenRejectedError("Invalid API token")
    if token.revoked_at is not None:
        raise TokenRejectedError("This API token has been revoked")
    if token.expires_at is not None and token.expires_at <= clock.now():
        raise TokenRejectedError("This API token has expired")
    return token


def token_list(*, account: Account) -> list[ApiToken]:
    return list(ApiToken.objects.filter(account=account).order_by("created_at", "pk"))


def token_get(*, account: Account, prefix_or_id: str) -> ApiToken:
    """A token of ``account`` by its display prefix or its numeric id."""
    tokens = ApiToken.objects.filter(account=account)
    token = (
        tokens.filter(pk=int(prefix_or_id)).first()
        if prefix_or_id.isdigit()
        else tokens.filter(prefix=prefix_or_id).first()
    )
    if token is None:
        raise InvalidInputError(f"No token {prefix_or_id!r} in account {account.pk}")
    return token

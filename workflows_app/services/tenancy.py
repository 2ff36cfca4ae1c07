"""Accounts, their members, console users and API tokens."""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import Q

from workflows_app.engine import clock
from workflows_app.engine.errors import (
    InvalidInputError,
)
from workflows_app.models import (
    Account,
    ApiToken,
    Membership,
)

TOKEN_PREFIX = "wfd_"
# The part of the secret kept in clear for display ("wfd_" + 8 characters).
TOKEN_DISPLAY_CHARS = 12


@dataclasses.dataclass(frozen=True, kw_only=True)
class CreatedToken:
    """A new token and its secret; the secret exists nowhere else after this."""

    token: ApiToken
    secret: str


def account_create(*, name: str) -> Account:
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise InvalidInputError("An account name must be 1-200 characters")
    return Account.objects.create(name=name)


def membership_set(*, account: Account, user: AbstractBaseUser, role: str) -> Membership:
    """Give ``user`` a role in ``account`` (creating or changing the membership)."""
    if role not in Membership.Role.values:
        raise InvalidInputError(f"Unknown role {role!r}: use one of {Membership.Role.values}")
    # By key: the stubs type the field as the default User, a project may swap it.
    membership, _ = Membership.objects.update_or_create(
        account=account, user_id=user.pk, defaults={"role": role}
    )
    return membership


def user_set(
    *, account: Account, username: str, role: str, password: str | None = None
) -> tuple[AbstractBaseUser, Membership, bool]:
    """Create or update a console user and their role in ``account``, atomically.

    Without a password a new user gets an unusable one (set it later). Returns
    the user, the membership, and whether the user was created.
    """
    with transaction.atomic():
        user, created = get_user_model().objects.get_or_create(username=username)
        if password:
            user.set_password(password)
            user.save(update_fields=["password"])
        elif created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        membership = membership_set(account=account, user=user, role=role)
    return user, membership, created


def token_create(
    *,
    account: Account,
    name: str,
    read_only: bool = False,
    expires_at: dt.datetime | None = None,
) -> CreatedToken:
    """Mint a token: 256 random bits, stored only as their SHA-256."""
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise InvalidInputError("A token name must be 1-200 characters")
    if expires_at is not None and expires_at <= clock.now():
        raise InvalidInputError("A token cannot expire in the past")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        account=account,
        name=name,
        token_hash=ApiToken.hash_of(secret),
        prefix=secret[:TOKEN_DISPLAY_CHARS],
        read_only=read_only,
        expires_at=expires_at,
    )
    return CreatedToken(token=token, secret=secret)


def token_revoke(*, token: ApiToken) -> ApiToken:
    """Revoke for good (idempotent: the first revocation time is kept)."""
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=clock.now())
    token.refresh_from_db(fields=["revoked_at"])
    return token


# Record use at most this often, so reads do not each cost a write.
TOKEN_TOUCH_SECONDS = 60


def token_touch(*, token: ApiToken) -> None:
    now = clock.now()
    stale = now - dt.timedelta(seconds=TOKEN_TOUCH_SECONDS)
    ApiToken.objects.filter(pk=token.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=stale)
    ).update(last_used_at=now)

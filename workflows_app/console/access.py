"""Who may see and do what in the console. Every view goes through these helpers.

Roles grant capabilities; the lookups go through selectors, as the REST API's
twin (``api.auth``) does.

A member of account A asking for anything of account B gets a 404, exactly
like a missing object, so ids of other tenants leak nothing.
"""

from __future__ import annotations

import dataclasses
import enum
import re

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import Http404

from workflows_app import selectors
from workflows_app.engine.registry import MAX_WORKFLOW_NAME, WORKFLOW_NAME_RE
from workflows_app.models import ACCOUNT_ID_PATTERN, Account, Instance, Membership
from workflows_app.services.common import INSTANCE_ID_RE, MAX_INSTANCE_ID

Role = Membership.Role
_ACCOUNT_ID_RE = re.compile(ACCOUNT_ID_PATTERN)


class Capability(enum.Enum):
    READ = "read"  # every member
    OPERATE = "operate"  # pause, resume, terminate, restart, send events
    APPROVE = "approve"  # answer approval prompts
    ADMIN = "admin"  # tokens, members, billing


_GRANTS = {
    Role.VIEWER: {Capability.READ},
    Role.OPERATOR: {Capability.READ, Capability.OPERATE},
    Role.APPROVER: {Capability.READ, Capability.APPROVE},
    Role.ADMIN: set(Capability),
}


@dataclasses.dataclass(frozen=True)
class AccountAccess:
    account: Account
    role: str

    def can(self, capability: Capability) -> bool:
        return capability in _GRANTS[Role(self.role)]

    @property
    def is_admin(self) -> bool:
        """For templates (which cannot pass arguments): may see billing, tokens, members."""
        return self.can(Capability.ADMIN)


def memberships_of(user: AbstractBaseUser | AnonymousUser) -> list[AccountAccess]:
    """The accounts a user may switch between (superusers see every account as admin)."""
    if getattr(user, "is_superuser", False):
        return [AccountAccess(a, Role.ADMIN) for a in selectors.accounts_by_name()]
    if user.pk is None:
        return []
    return [AccountAccess(m.account, m.role) for m in selectors.membership_list(user_id=user.pk)]


def access_account(
    user: AbstractBaseUser | AnonymousUser,
    account_id: str,
    capability: Capability = Capability.READ,
) -> AccountAccess:
    """The user's access to the account; 404 if not a member, 403 if the role falls short."""
    if not _ACCOUNT_ID_RE.fullmatch(account_id):
        access = None  # not an account id at all: the same 404 as a missing account
    elif user.pk is None:
        access = None
    elif getattr(user, "is_superuser", False):
        account = selectors.account_get(account_id=account_id)
        access = AccountAccess(account, Role.ADMIN) if account else None
    else:
        membership = selectors.membership_get(user_id=user.pk, account_id=account_id)
        access = AccountAccess(membership.account, membership.role) if membership else None
    if access is None:
        raise Http404("No such account")
    if not access.can(capability):
        raise PermissionDenied(f"Your role ({access.role}) cannot {capability.value} here")
    return access


def access_instance(access: AccountAccess, workflow_name: str, instance_id: str) -> Instance:
    if (
        len(workflow_name) > MAX_WORKFLOW_NAME
        or not WORKFLOW_NAME_RE.fullmatch(workflow_name)
        or len(instance_id) > MAX_INSTANCE_ID
        or not INSTANCE_ID_RE.fullmatch(instance_id)
    ):
        raise Http404("No such instance")  # names no instance can have
    instance = selectors.instance_find(
        account=access.account, workflow_name=workflow_name, instance_id=instance_id
    )
    if instance is None:
        raise Http404("No such instance")
    return instance

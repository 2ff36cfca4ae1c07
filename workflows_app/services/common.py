"""What every write shares: input validation, the row lock, the audit entry."""

from __future__ import annotations

import re
from typing import Any

from workflows_app.engine.errors import (
    InvalidInputError,
    NotPersistableError,
    PayloadTooLargeError,
)
from workflows_app.engine.journal import dbtime
from workflows_app.engine.serialization import (
    MAX_VALUE_BYTES,
    check_persistable,
)
from workflows_app.models import (
    AuditEntry,
    Instance,
)

# "-" last in the class: the API publishes this pattern in its OpenAPI schema (ECMA regex).
INSTANCE_ID_PATTERN = r"^[a-zA-Z0-9_][a-zA-Z0-9_-]*$"
INSTANCE_ID_RE = re.compile(INSTANCE_ID_PATTERN)
MAX_INSTANCE_ID = 100
MAX_BATCH = 100
# Words the REST paths use, and the prefix of cron-created ids.
RESERVED_INSTANCE_IDS = frozenset({"batch", "terminate", "terminateAll"})
_CRON_ID_RE = re.compile(r"^cf_[0-9a-f]{64}$")


def validate_instance_id(instance_id: Any) -> str:
    if (
        not isinstance(instance_id, str)
        or not 1 <= len(instance_id) <= MAX_INSTANCE_ID
        or not INSTANCE_ID_RE.fullmatch(instance_id)
    ):
        raise InvalidInputError(
            f"Instance id {instance_id!r} is invalid: it must match "
            f"{INSTANCE_ID_RE.pattern} and be 1-{MAX_INSTANCE_ID} characters"
        )
    if instance_id in RESERVED_INSTANCE_IDS or _CRON_ID_RE.match(instance_id):
        raise InvalidInputError(f"Instance id {instance_id!r} is reserved")
    return instance_id


def validate_json_value(value: Any, *, what: str) -> int:
    """Return the stored size of ``value``; raise a 4xx-class error saying what is wrong."""
    try:
        return check_persistable(value, what=what, limit=MAX_VALUE_BYTES)
    except NotPersistableError as exc:
        if "too large" in str(exc):
            raise PayloadTooLargeError(str(exc)) from exc
        raise InvalidInputError(str(exc)) from exc


def audit(
    *, instance: Instance, actor: str | None, action: str, reason: str = "", **detail: Any
) -> None:
    if actor is None:
        return
    AuditEntry.objects.create(
        account_id=instance.account_id,
        actor=actor,
        action=action,
        workflow_name=instance.workflow.name,
        instance_id=instance.instance_id,
        reason=reason,
        detail=detail or None,
    )


def lock_instance(instance: Instance) -> Instance:
    """Re-read the instance under a row lock (PostgreSQL; SQLite serialises writers)."""
    return (
        Instance.objects.select_for_update(of=("self",))
        .select_related("workflow")
        .get(pk=instance.pk)
    )


def has_live_lease(instance: Instance) -> bool:
    """Judged by the database's clock, like every lease: a web host whose clock
    runs ahead must not pause an instance under the worker that holds it."""
    if instance.lease_token is None or instance.lease_expires_at is None:
        return False
    return instance.lease_expires_at > dbtime.read()

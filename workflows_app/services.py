"""Writes: every change to instances made by a user, an API client or code.

Each service is atomic, checks the instance's state under a row lock, audits
actions taken by a named actor, and rings the dispatcher only after commit.
The REST API, the console, the CLI and the Python binding all call these.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
import secrets
import uuid
from collections.abc import Sequence
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum

from workflows_app import metering
from workflows_app.engine import clock, registry, store
from workflows_app.engine.context import validate_event_type
from workflows_app.engine.dispatch import dispatch_on_commit
from workflows_app.engine.errors import (
    InstanceAlreadyExistsError,
    InvalidInputError,
    InvalidStepError,
    InvalidTransitionError,
    PayloadTooLargeError,
    WorkflowNotFoundError,
)
from workflows_app.engine.serialization import (
    MAX_VALUE_BYTES,
    NotPersistableError,
    check_persistable,
)
from workflows_app.engine.store import size_of
from workflows_app.models import (
    TERMINAL_STATUSES,
    Account,
    ApiToken,
    AuditEntry,
    Event,
    Instance,
    InstanceStatus,
    Membership,
    StepRecord,
    StepStatus,
    StepType,
    Workflow,
)

INSTANCE_ID_RE = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9-_]*$")
MAX_INSTANCE_ID = 100
MAX_BATCH = 100
# Words the REST paths use, and the prefix of cron-created ids.
RESERVED_INSTANCE_IDS = frozenset({"batch", "terminate", "terminateAll"})
_CRON_ID_RE = re.compile(r"^cf_[0-9a-f]{64}$")


# --- validation ---------------------------------------------------------------


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


def _audit(
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


def _locked(instance: Instance) -> Instance:
    """Re-read the instance under a row lock (PostgreSQL; SQLite serialises writers)."""
    return (
        Instance.objects.select_for_update(of=("self",))
        .select_related("workflow")
        .get(pk=instance.pk)
    )


def _has_live_lease(instance: Instance) -> bool:
    return (
        instance.lease_token is not None
        and instance.lease_expires_at is not None
        and instance.lease_expires_at > clock.now()
    )


# --- workflows ------------------------------------------------------------------


def workflow_enable(*, account: Account, name: str) -> Workflow:
    """Enable a workflow registered in code for ``account`` (idempotent)."""
    workflow_class = registry.get(name)
    if workflow_class is None:
        raise WorkflowNotFoundError(f"No workflow named {name!r} is registered")
    workflow, _ = Workflow.objects.get_or_create(
        account=account,
        name=name,
        defaults={"class_name": f"{workflow_class.__module__}.{workflow_class.__qualname__}"},
    )
    return workflow


def workflow_set_retention(*, workflow: Workflow, retention: dict | None) -> Workflow:
    """Default retention of the workflow's instances (``None``: the plan's)."""
    workflow.default_retention = metering.parse_retention(
        retention, plan=metering.plan_of(workflow.account)
    )
    workflow.save(update_fields=["default_retention", "modified_at"])
    return workflow


# --- creating instances -----------------------------------------------------------


def _new_instance(
    *,
    workflow: Workflow,
    instance_id: str | None,
    params: Any,
    trigger_source: str,
    retention: dict | None = None,
) -> Instance:
    if instance_id is None:
        instance_id = str(uuid.uuid4())
    validate_instance_id(instance_id)
    params_bytes = validate_json_value(params, what="params")
    now = clock.now()
    return Instance(
        account_id=workflow.account_id,
        workflow=workflow,
        instance_id=instance_id,
        status=InstanceStatus.QUEUED,
        params=params,
        trigger_source=trigger_source,
        created_at=now,
        modified_at=now,
        wake_at=now,
        stored_bytes=0 if params is None else params_bytes,
        retention=None
        if retention is None
        else metering.parse_retention(retention, plan=metering.plan_of(workflow.account)),
    )


def _insert_metered(instance: Instance) -> None:
    """Insert the instance and count it: one invocation, its params' bytes."""
    instance.save(force_insert=True)
    store.meter(metering.meter_key(instance), invocations=1, stored_bytes=instance.stored_bytes)


def instance_create(
    *,
    workflow: Workflow,
    instance_id: str | None = None,
    params: Any = None,
    trigger_source: str = "api",
    retention: dict | None = None,
) -> Instance:
    """Create one instance; it starts asynchronously once the transaction commits.

    ``retention`` (``{"success_retention", "error_retention"}``) overrides the
    workflow's and the plan's, up to the plan's maximum.
    """
    instance = _new_instance(
        workflow=workflow,
        instance_id=instance_id,
        params=params,
        trigger_source=trigger_source,
        retention=retention,
    )
    metering.check_quotas(workflow.account, new_invocations=1)
    try:
        with transaction.atomic():
            _insert_metered(instance)
    except IntegrityError as exc:
        raise InstanceAlreadyExistsError(
            f'Workflow instance with id "{instance.instance_id}" already exists'
        ) from exc
    dispatch_on_commit([instance.pk])
    return instance


def instance_create_batch(
    *, workflow: Workflow, items: Sequence[dict[str, Any]], trigger_source: str = "api"
) -> list[Instance]:
    """Create 1-100 instances, all or nothing."""
    if not 1 <= len(items) <= MAX_BATCH:
        raise InvalidInputError(f"A batch must have between 1 and {MAX_BATCH} instances")
    instances = []
    for index, item in enumerate(items):
        unknown = set(item) - {"id", "params", "retention"}
        if unknown:
            raise InvalidInputError(f"Batch item {index} has unknown field(s) {sorted(unknown)}")
        instances.append(
            _new_instance(
                workflow=workflow,
                instance_id=item.get("id"),
                params=item.get("params"),
                trigger_source=trigger_source,
                retention=item.get("retention"),
            )
        )
    ids = [i.instance_id for i in instances]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise InstanceAlreadyExistsError(f"Instance id(s) {repeated} appear twice in the batch")
    existing = sorted(
        Instance.objects.filter(workflow=workflow, instance_id__in=ids).values_list(
            "instance_id", flat=True
        )
    )
    if existing:
        raise InstanceAlreadyExistsError(f"Workflow instance(s) {existing} already exist")
    metering.check_quotas(workflow.account, new_invocations=len(instances))
    try:
        with transaction.atomic():
            for instance in instances:
                _insert_metered(instance)
    except IntegrityError as exc:  # a concurrent create won the race for an id
        raise InstanceAlreadyExistsError(
            "A workflow instance with one of these ids already exists"
        ) from exc
    dispatch_on_commit([i.pk for i in instances])
    return instances


# --- lifecycle --------------------------------------------------------------------


def instance_pause(*, instance: Instance, actor: str | None = None, reason: str = "") -> Instance:
    """Pause at the next step boundary; a sleeping or waiting instance pauses at once."""
    with transaction.atomic():
        locked = _locked(instance)
        if locked.status in TERMINAL_STATUSES:
            raise InvalidTransitionError(f"Cannot pause an instance that is {locked.status}")
        if locked.status in (InstanceStatus.PAUSED, InstanceStatus.WAITING_FOR_PAUSE):
            return locked
        now = clock.now()
        if locked.status == InstanceStatus.RUNNING and _has_live_lease(locked):
            locked.status = InstanceStatus.WAITING_FOR_PAUSE
        else:
            locked.status = InstanceStatus.PAUSED
            locked.paused_at = now
            locked.wake_at = None
            locked.lease_token = None
            locked.lease_expires_at = None
        locked.modified_at = now
        locked.save(
            update_fields=[
                "status",
                "paused_at",
                "wake_at",
                "lease_token",
                "lease_expires_at",
                "modified_at",
            ]
        )
        _audit(instance=locked, actor=actor, action="pause", reason=reason)
    return locked


def instance_resume(*, instance: Instance, actor: str | None = None, reason: str = "") -> Instance:
    """Cancel a pending pause, or resume a paused instance with its timers shifted."""
    with transaction.atomic():
        locked = _locked(instance)
        if locked.status in TERMINAL_STATUSES:
            raise InvalidTransitionError(f"Cannot resume an instance that is {locked.status}")
        now = clock.now()
        if locked.status == InstanceStatus.WAITING_FOR_PAUSE:
            locked.status = InstanceStatus.RUNNING
            locked.modified_at = now
            locked.save(update_fields=["status", "modified_at"])
        elif locked.status == InstanceStatus.PAUSED:
            # The clocks of sleeps, event timeouts and retry delays stopped while paused.
            paused_for = now - (locked.paused_at or now)
            StepRecord.objects.filter(
                instance=locked,
                status__in=[StepStatus.WAITING, StepStatus.RETRYING],
                wake_at__isnull=False,
            ).update(wake_at=F("wake_at") + paused_for)
            locked.status = InstanceStatus.RUNNING
            locked.paused_at = None
            locked.wake_at = now
            locked.delivery_count = 0
            locked.modified_at = now
            locked.save(
                update_fields=["status", "paused_at", "wake_at", "delivery_count", "modified_at"]
            )
            dispatch_on_commit([locked.pk])
        else:
            return locked  # already running or waiting: nothing to resume
        _audit(instance=locked, actor=actor, action="resume", reason=reason)
    return locked


def instance_terminate(
    *, instance: Instance, actor: str | None = None, reason: str = ""
) -> Instance:
    """Stop for good; a step running right now finishes but nothing after it runs."""
    with transaction.atomic():
        locked = _locked(instance)
        if locked.status in TERMINAL_STATUSES:
            raise InvalidTransitionError(
                f"Cannot terminate instance since it is in a finite state ({locked.status})"
            )
        now = clock.now()
        locked.status = InstanceStatus.TERMINATED
        locked.ended_at = now
        locked.purge_after = now + dt.timedelta(
            seconds=store.retention_seconds(
                instance=locked.retention,
                workflow=locked.workflow.default_retention,
                plan=metering.plan_of(locked.account),
            )["error"]
        )
        locked.modified_at = now
        locked.wake_at = None
        locked.paused_at = None
        # Dropping the token fences off an activation still running: its writes now fail.
        locked.lease_token = None
        locked.lease_expires_at = None
        locked.save(
            update_fields=[
                "status",
                "ended_at",
                "purge_after",
                "modified_at",
                "wake_at",
                "paused_at",
                "lease_token",
                "lease_expires_at",
            ]
        )
        _audit(instance=locked, actor=actor, action="terminate", reason=reason)
    return locked


def _restart_point(instance: Instance, from_step: dict[str, Any]) -> StepRecord:
    unknown = set(from_step) - {"name", "count", "type"}
    if unknown or not isinstance(from_step.get("name"), str):
        raise InvalidInputError('Restart "from" takes {"name", "count"?, "type"?}')
    step_type = {"do": StepType.DO, "step": StepType.DO}.get(
        from_step.get("type") or "do", from_step.get("type")
    )
    count = from_step.get("count") or 1
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise InvalidInputError("Restart from: count must be a positive integer")
    record = StepRecord.objects.filter(
        instance=instance, type=step_type, name=from_step["name"], count=count
    ).first()
    if record is None:
        raise InvalidTransitionError(f'Step "{from_step["name"]}" not found in execution history')
    return record


def instance_restart(
    *,
    instance: Instance,
    from_step: dict[str, Any] | None = None,
    actor: str | None = None,
    reason: str = "",
) -> Instance:
    """Run again from the top with the same params, from any state.

    Without ``from_step`` every step is forgotten. With it, that step and every
    step reached after it are wiped; earlier ones stay cached and do not re-run.
    Buffered events are cleared either way.
    """
    with transaction.atomic():
        locked = _locked(instance)
        steps = StepRecord.objects.filter(instance=locked)
        if from_step is not None:
            point = _restart_point(locked, from_step)
            steps = steps.filter(seq__gte=point.seq)
        wiped = list(steps.values_list("pk", flat=True))
        events = Event.objects.filter(instance=locked).filter(
            Q(consumed_by__isnull=True) | Q(consumed_by__in=wiped)
        )
        params_bytes = 0 if locked.params is None else size_of(locked.params)
        freed = (
            (steps.aggregate(n=Sum("stored_bytes"))["n"] or 0)
            + (events.aggregate(n=Sum("stored_bytes"))["n"] or 0)
            + (locked.stored_bytes - params_bytes)  # the output or error
        )
        events.delete()
        steps.delete()
        store.meter(metering.meter_key(locked), stored_bytes=-freed)
        locked.stored_bytes = params_bytes
        now = clock.now()
        locked.status = InstanceStatus.QUEUED
        locked.output = None
        locked.error = None
        locked.started_at = None
        locked.ended_at = None
        locked.purge_after = None
        locked.paused_at = None
        locked.wake_at = now
        locked.lease_token = None
        locked.lease_expires_at = None
        locked.delivery_count = 0
        locked.step_count = StepRecord.objects.filter(instance=locked, type=StepType.DO).count()
        locked.modified_at = now
        locked.save()
        _audit(instance=locked, actor=actor, action="restart", reason=reason, from_step=from_step)
        dispatch_on_commit([locked.pk])
    return locked


def instance_delete(*, instance: Instance, actor: str | None = None, reason: str = "") -> None:
    """Delete the instance and all its state; a running activation is fenced off."""
    with transaction.atomic():
        locked = _locked(instance)
        _audit(instance=locked, actor=actor, action="delete", reason=reason)
        store.meter(
            metering.meter_key(locked), stored_bytes=-metering.instance_stored_bytes(locked)
        )
        locked.delete()


# --- events -----------------------------------------------------------------------


def event_send(
    *,
    instance: Instance,
    event_type: str,
    payload: Any = None,
    actor: str | None = None,
    reason: str = "",
) -> Event:
    """Deliver an event: buffered per type until a wait_for_event takes it.

    A waiting instance with a matching waiter is woken; a paused one keeps the
    event until it is resumed.
    """
    try:
        validate_event_type(event_type)
    except InvalidStepError as exc:
        raise InvalidInputError(str(exc)) from exc
    payload_bytes = 0 if payload is None else validate_json_value(payload, what="The event payload")
    with transaction.atomic():
        locked = _locked(instance)
        if locked.status in TERMINAL_STATUSES:
            raise InvalidTransitionError(
                f"The instance is {locked.status}; it no longer accepts events"
            )
        now = clock.now()
        event = Event.objects.create(
            instance=locked,
            type=event_type,
            payload=payload,
            created_at=now,
            stored_bytes=payload_bytes,
        )
        store.meter(metering.meter_key(locked), stored_bytes=payload_bytes)
        wake = locked.status in (InstanceStatus.RUNNING, InstanceStatus.QUEUED) or (
            locked.status == InstanceStatus.WAITING
            and StepRecord.objects.filter(
                instance=locked,
                type=StepType.WAIT_FOR_EVENT,
                status=StepStatus.WAITING,
                detail__type=event_type,
            ).exists()
        )
        updates: dict[str, Any] = {"event_seq": F("event_seq") + 1, "modified_at": now}
        if wake:
            updates["wake_at"] = now
        Instance.objects.filter(pk=locked.pk).update(**updates)
        _audit(
            instance=locked,
            actor=actor,
            action="send_event",
            reason=reason,
            event_type=event_type,
            payload=payload,
        )
        if wake:
            dispatch_on_commit([locked.pk])
    return event


# --- workflows (removal) ------------------------------------------------------------


def workflow_delete(*, workflow: Workflow, actor: str | None = None) -> None:
    """Remove a workflow from its account, with every instance and their state.

    The registered code is untouched: enabling it again starts from nothing.
    """
    with transaction.atomic():
        if actor is not None:
            AuditEntry.objects.create(
                account_id=workflow.account_id,
                actor=actor,
                action="workflow_delete",
                workflow_name=workflow.name,
            )
        workflow.delete()


# --- accounts, members and API tokens ----------------------------------------------

TOKEN_PREFIX = "wfd_"
# The part of the secret kept in clear for display ("wfd_" + 8 characters).
TOKEN_DISPLAY_CHARS = 12


@dataclasses.dataclass(frozen=True, kw_only=True)
class CreatedToken:
    """A new token and its secret; the secret exists nowhere else after this."""

    token: ApiToken
    secret: str


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def account_create(*, name: str) -> Account:
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise InvalidInputError("An account name must be 1-200 characters")
    return Account.objects.create(name=name)


def membership_set(*, account: Account, user: Any, role: str) -> Membership:
    """Give ``user`` a role in ``account`` (creating or changing the membership)."""
    if role not in Membership.Role.values:
        raise InvalidInputError(f"Unknown role {role!r}: use one of {Membership.Role.values}")
    membership, _ = Membership.objects.update_or_create(
        account=account, user=user, defaults={"role": role}
    )
    return membership


def user_set(
    *, account: Account, username: str, role: str, password: str | None = None
) -> tuple[Any, Membership, bool]:
    """Create or update a console user and their role in ``account``, atomically.

    Without a password a new user gets an unusable one (set it later). Returns
    the user, the membership, and whether the user was created.
    """
    from django.contrib.auth import get_user_model

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
        token_hash=token_hash(secret),
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


# --- human decisions (the approvals inbox) -----------------------------------------


class AlreadyDecidedError(InvalidTransitionError):
    """Someone answered this prompt first; ``decision`` says who and what."""

    code = "approval.already_decided"

    def __init__(self, decision: Any) -> None:
        super().__init__(
            f"Already {decision.outcome.rstrip('e')}ed by {decision.decided_by} "
            f"at {decision.created_at:%Y-%m-%d %H:%M:%S} UTC"
        )
        self.decision = decision


def approval_decide(*, step: StepRecord, outcome: str, comment: str, by: str) -> Any:
    """Answer a pending wait_for_event; the first decision wins.

    Sends an event of the waited type with payload
    ``{"decision": "approve"|"reject", "comment", "by"}``.
    """
    from workflows_app.models import Decision

    if outcome not in Decision.Outcome.values:
        raise InvalidInputError(f"A decision is one of {', '.join(Decision.Outcome.values)}")
    with transaction.atomic():
        # Lock the instance first, as the engine does, so the two never deadlock.
        _locked(step.instance)
        locked = (
            StepRecord.objects.select_for_update(of=("self",))
            .select_related("instance__workflow")
            .get(pk=step.pk)
        )
        existing = Decision.objects.filter(step=locked).first()
        if existing is not None:
            raise AlreadyDecidedError(existing)
        if locked.type != StepType.WAIT_FOR_EVENT or locked.status != StepStatus.WAITING:
            raise InvalidTransitionError("This step is no longer waiting for an answer")
        try:
            with transaction.atomic():
                decision = Decision.objects.create(
                    step=locked, outcome=outcome, comment=comment, decided_by=by
                )
        except IntegrityError:  # a concurrent decision committed between our checks
            raise AlreadyDecidedError(Decision.objects.get(step=locked)) from None
        event_send(
            instance=locked.instance,
            event_type=(locked.detail or {})["type"],
            payload={"decision": outcome, "comment": comment, "by": by},
            actor=f"user:{by}",
            reason=comment,
        )
    return decision


# --- bulk actions (the console's instance list) -------------------------------------

BULK_LIMIT = 1000


def instances_bulk_action(
    *, instances: Sequence[Instance], action: str, actor: str, reason: str
) -> tuple[int, list[str]]:
    """Apply one lifecycle action to many instances; each succeeds or fails on its own.

    Returns how many succeeded and a message per failure.
    """
    actions = {
        "pause": instance_pause,
        "resume": instance_resume,
        "terminate": instance_terminate,
        "restart": instance_restart,
    }
    if action not in actions:
        raise InvalidInputError(f"Bulk action must be one of {', '.join(actions)}")
    if len(instances) > BULK_LIMIT:
        raise InvalidInputError(f"A bulk action covers at most {BULK_LIMIT} instances")
    done, failures = 0, []
    for instance in instances:
        try:
            actions[action](instance=instance, actor=actor, reason=reason)
        except InvalidTransitionError as exc:
            failures.append(f"{instance.instance_id}: {exc}")
        else:
            done += 1
    return done, failures


# --- retention ----------------------------------------------------------------------


def retention_purge(*, limit: int = 500) -> int:
    """Purge the state of finished instances whose retention has run out.

    Steps, attempts and events are deleted and params/output/error cleared; the
    instance row stays as a tombstone (status, timestamps, step count, CPU) so
    lists and bills stay consistent. The storage meter drops by exactly the
    bytes removed. Returns how many instances were purged.
    """
    now = clock.now()
    due = list(
        Instance.objects.filter(purge_after__lt=now, purged_at__isnull=True)
        .order_by("purge_after")
        .values_list("pk", flat=True)[:limit]
    )
    purged = 0
    for pk in due:
        with transaction.atomic():
            instance = Instance.objects.select_for_update().filter(pk=pk).first()
            if instance is None or instance.purged_at is not None or instance.purge_after is None:
                continue  # deleted, purged or restarted meanwhile
            freed = metering.instance_stored_bytes(instance)
            Event.objects.filter(instance=instance).delete()
            StepRecord.objects.filter(instance=instance).delete()
            Instance.objects.filter(pk=pk).update(
                params=None, output=None, error=None, stored_bytes=0, purged_at=now
            )
            store.meter(metering.meter_key(instance), stored_bytes=-freed)
        purged += 1
    return purged

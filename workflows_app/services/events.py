"""Events sent to instances, and human decisions that answer a waiting step."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F

from workflows_app.engine import clock
from workflows_app.engine.context import validate_event_type
from workflows_app.engine.dispatch import dispatch_on_commit
from workflows_app.engine.errors import (
    AlreadyDecidedError,
    InvalidInputError,
    InvalidStepError,
    InvalidTransitionError,
)
from workflows_app.engine.journal.meters import MeterKey, meter
from workflows_app.models import (
    TERMINAL_STATUSES,
    Decision,
    Event,
    Instance,
    InstanceStatus,
    StepRecord,
    StepStatus,
    StepType,
)
from workflows_app.services.common import (
    audit,
    lock_instance,
    validate_json_value,
)


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
        locked = lock_instance(instance)
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
        meter(MeterKey.for_instance(locked), stored_bytes=payload_bytes)
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
        audit(
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


def approval_decide(*, step: StepRecord, outcome: str, comment: str, by: str) -> Decision:
    """Answer a pending wait_for_event; the first decision wins.

    Sends an event of the waited type with payload
    ``{"decision": "approve"|"reject", "comment", "by"}``.
    """
    if outcome not in Decision.Outcome.values:
        raise InvalidInputError(f"A decision is one of {', '.join(Decision.Outcome.values)}")
    with transaction.atomic():
        # Lock the instance first, as the engine does, so the two never deadlock.
        lock_instance(step.instance)
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

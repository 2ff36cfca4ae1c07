"""Events sent to instances, and human decisions that answer a waiting step."""

from __future__ import annotations

import datetime as dt
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
from workflows_app.engine.journal import dbtime
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
    event until it is resumed. The event's arrival time (``created_at``) is
    stamped by the database in the INSERT, so every event is judged against a
    wait's deadline on one clock, whichever host sent it.
    """
    return _deliver(
        instance=instance,
        event_type=event_type,
        payload=payload,
        actor=actor,
        reason=reason,
        for_step=None,
    )


def _deliver(
    *,
    instance: Instance,
    event_type: str,
    payload: Any,
    actor: str | None,
    reason: str,
    for_step: StepRecord | None,
) -> Event:
    """``event_send``; ``for_step`` addresses the event to that one wait (a decision)."""
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
        # The arrival is stamped on the database's clock, in the INSERT itself
        # (statement time on PostgreSQL, read back by RETURNING): the one clock
        # every wait's deadline and every due time is judged by.
        event = Event.objects.create(
            instance=locked,
            type=event_type,
            payload=payload,
            created_at=dbtime.now(),
            stored_bytes=payload_bytes,
            for_step=for_step,
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
            updates["wake_at"] = dbtime.now()  # due at once, on the clock due times use
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
    ``{"decision": "approve"|"reject", "comment", "by"}``, addressed to this
    step: that wait, and no other, takes it, ahead of any other event. So the
    recorded ``Decision`` is exactly what ``run()`` receives. It is refused,
    recording nothing, when the wait already timed out (judged on the same
    database clock as events are; its clock stops while the instance is
    paused), or when an event of the waited type is already buffered for the
    instance: that earlier event answers the wait first.
    """
    if outcome not in Decision.Outcome.values:
        raise InvalidInputError(f"A decision is one of {', '.join(Decision.Outcome.values)}")
    with transaction.atomic():
        # Lock the instance first, as the engine does, so the two never deadlock.
        instance = lock_instance(step.instance)
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
        event_type = (locked.detail or {})["type"]
        # An event this wait can take (of its type, addressed to no step, arrived by
        # its deadline) answers it before any decision.
        buffered = Event.objects.filter(
            instance_id=locked.instance_id,
            type=event_type,
            consumed_by__isnull=True,
            for_step__isnull=True,
        )
        if locked.wake_at is not None and not _frozen_before(instance, locked.wake_at):
            buffered = buffered.filter(created_at__lte=locked.wake_at)
        earlier = buffered.order_by("id").first()
        if earlier is not None:
            raise InvalidTransitionError(
                f"A “{event_type}” event sent at {earlier.created_at:%Y-%m-%d %H:%M:%S} UTC "
                "is already waiting to be delivered to this instance; the workflow takes "
                "that one first, so this prompt cannot be decided here. Nothing was recorded."
            )
        try:
            with transaction.atomic():
                decision = Decision.objects.create(
                    step=locked, outcome=outcome, comment=comment, decided_by=by
                )
        except IntegrityError:  # a concurrent decision committed between our checks
            raise AlreadyDecidedError(Decision.objects.get(step=locked)) from None
        event = _deliver(
            instance=locked.instance,
            event_type=event_type,
            payload={"decision": outcome, "comment": comment, "by": by},
            actor=f"user:{by}",
            reason=comment,
            for_step=locked,
        )
        if (
            locked.wake_at is not None
            and event.created_at > locked.wake_at
            and not _frozen_before(instance, locked.wake_at)
        ):
            # Stamped on the clock every wait is judged by: raising rolls back the
            # decision, the event, its meter and its audit entry.
            raise InvalidTransitionError(
                f"This prompt timed out at {locked.wake_at:%Y-%m-%d %H:%M:%S} UTC; "
                "a late answer is not delivered. Nothing was recorded."
            )
    return decision


def _frozen_before(instance: Instance, deadline: dt.datetime) -> bool:
    """Whether the instance was paused before ``deadline``: a wait's timeout clock stops
    while paused (resume shifts the deadline by the pause), so it has not run out."""
    return (
        instance.status == InstanceStatus.PAUSED
        and instance.paused_at is not None
        and instance.paused_at <= deadline
    )

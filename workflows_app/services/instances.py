"""Creating and deleting instances, one at a time or in batches."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from django.db import IntegrityError, transaction

from workflows_app.billing import plans, quotas
from workflows_app.billing.retention import parse_retention
from workflows_app.engine import clock
from workflows_app.engine.dispatch import dispatch_on_commit
from workflows_app.engine.errors import (
    InstanceAlreadyExistsError,
    InvalidInputError,
)
from workflows_app.engine.journal.meters import MeterKey, meter
from workflows_app.models import (
    Instance,
    InstanceStatus,
    Workflow,
)
from workflows_app.services.common import (
    MAX_BATCH,
    audit,
    lock_instance,
    validate_instance_id,
    validate_json_value,
)


def _new_instance(
    *,
    workflow: Workflow,
    instance_id: str | None,
    params: Any,
    trigger_source: str,
    retention: dict[str, Any] | None = None,
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
        else parse_retention(retention, plan=plans.plan_of(workflow.account)),
    )


def _insert_metered(instance: Instance) -> None:
    """Insert the instance and count it: one invocation, its params' bytes."""
    instance.save(force_insert=True)
    meter(MeterKey.for_instance(instance), invocations=1, stored_bytes=instance.stored_bytes)


def instance_create(
    *,
    workflow: Workflow,
    instance_id: str | None = None,
    params: Any = None,
    trigger_source: str = "api",
    retention: dict[str, Any] | None = None,
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
    quotas.check_quotas(workflow.account, new_invocations=1)
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
    quotas.check_quotas(workflow.account, new_invocations=len(instances))
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


def instance_delete(*, instance: Instance, actor: str | None = None, reason: str = "") -> None:
    """Delete the instance and all its state; a running activation is fenced off."""
    with transaction.atomic():
        locked = lock_instance(instance)
        audit(instance=locked, actor=actor, action="delete", reason=reason)
        meter(MeterKey.for_instance(locked), stored_bytes=-quotas.instance_stored_bytes(locked))
        locked.delete()

"""One activation: claim an instance, replay ``run()`` from the top, record the outcome.

The same code runs under the inline dispatcher (tests, scripts) and under a
Celery worker; only the caller differs.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import time
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import DatabaseError

from workflows_app.models import InstanceStatus

from . import clock, registry, store
from .context import ActivationState, WorkflowStep
from .dispatch import dispatch_soon, get_dispatcher
from .drivers import AsyncDriver, CpuMeter, LeaseKeeper, Suspended, SyncDriver
from .entrypoint import WorkflowEvent
from .errors import NondeterminismError, StepOutputError, WorkflowNotFoundError
from .serialization import NotPersistableError, check_persistable, error_to_dict

logger = logging.getLogger(__name__)

# An event arriving mid-activation makes the activation replay again at once;
# past this many rounds it hands the instance back to the dispatcher instead.
MAX_IMMEDIATE_REPLAYS = 50


def _instance_error(exc: BaseException) -> dict[str, str]:
    stored = error_to_dict(exc)
    return {"name": stored["name"], "message": stored["message"], "traceback": stored["traceback"]}


def advance(instance_pk: int) -> None:
    """Run activations of the instance while it has work due now.

    Past the activation budget the instance is handed back to the dispatcher
    rather than replayed again here, so one task never outlives its time limit
    and one long workflow cannot hold a worker.
    """
    started = time.monotonic()
    for _ in range(MAX_IMMEDIATE_REPLAYS):
        if not activate(instance_pk):
            return
        if time.monotonic() - started > settings.WORKFLOWS_ACTIVATION_BUDGET_SECONDS:
            break
    get_dispatcher().dispatch([instance_pk])


def activate(instance_pk: int) -> bool:
    """One activation. Returns True when the instance is due again right away."""
    token = store.claim(instance_pk, lease_seconds=settings.WORKFLOWS_LEASE_SECONDS)
    if token is None:
        return False  # not due, finished, or another worker holds a live lease
    try:
        return _activate_claimed(instance_pk, token)
    except store.LeaseLostError:
        logger.info("instance %s: lease lost, stopping this activation", instance_pk)
        return False
    except (store.StoreUnavailableError, DatabaseError):
        # The journal could not be written; nothing half-done is visible to the
        # workflow. Give the lease back so the scheduler sends it again.
        logger.warning("instance %s: database error, will retry", instance_pk, exc_info=True)
        with contextlib.suppress(DatabaseError):
            store.release(instance_pk=instance_pk, token=token)
        return False


def _activate_claimed(instance_pk: int, token: str) -> bool:
    snapshot = store.load(instance_pk)
    workflow_class = registry.get(snapshot.workflow_name)
    if workflow_class is None:
        error = WorkflowNotFoundError(
            f"No workflow named {snapshot.workflow_name!r} is registered in this deployment"
        )
        store.finish(
            instance_pk=instance_pk,
            token=token,
            status=InstanceStatus.ERRORED,
            error=_instance_error(error),
            meter_key=snapshot.meter,
            retention=snapshot.retention,
        )
        return False
    if snapshot.delivery_count > settings.WORKFLOWS_MAX_DELIVERIES:
        # Every recent activation died without progress (kill, OOM): a poison instance.
        poison = RuntimeError(
            f"The instance was picked up {settings.WORKFLOWS_MAX_DELIVERIES} times without "
            "making progress; its worker keeps dying"
        )
        store.finish(
            instance_pk=instance_pk,
            token=token,
            status=InstanceStatus.ERRORED,
            error=_instance_error(poison),
            meter_key=snapshot.meter,
            retention=snapshot.retention,
        )
        return False

    event = WorkflowEvent(
        payload=snapshot.params,
        timestamp=snapshot.created_at,
        instance_id=snapshot.instance_id,
        workflow_name=snapshot.workflow_name,
    )
    workflow = workflow_class()
    lease_seconds = settings.WORKFLOWS_LEASE_SECONDS
    keeper = LeaseKeeper(
        lambda: store.renew_lease(
            instance_pk=instance_pk, token=token, lease_seconds=lease_seconds
        ),
        interval=lease_seconds / 3,
    )
    state = ActivationState(snapshot, token, lease_seconds)

    outcome: Any = None
    failure: BaseException | None = None
    suspended = False
    driver: SyncDriver | AsyncDriver
    if inspect.iscoroutinefunction(workflow.run):
        driver = async_driver = AsyncDriver(keeper)
        meter = CpuMeter()
        step = WorkflowStep(state, driver)

        async def drive() -> Any:
            return await async_driver.drive(workflow.run(event, step), meter)

        try:
            outcome = async_to_sync(drive)()
        except Suspended:
            suspended = True
        except (store.LeaseLostError, store.StoreUnavailableError, KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            failure = exc
        replay_cpu_ms = meter.ms
    else:
        driver = SyncDriver(keeper)
        step = WorkflowStep(state, driver)
        cpu_started = time.thread_time()
        try:
            outcome = workflow.run(event, step)
        except Suspended:
            suspended = True
        except (store.LeaseLostError, store.StoreUnavailableError, KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            failure = exc
        replay_cpu_ms = (time.thread_time() - cpu_started - driver.io_cpu_s) * 1000

    if state.nondeterminism is not None:
        failure = state.nondeterminism
    elif failure is None:
        unvisited = state.unvisited()
        if unvisited and not (suspended and state.pause_requested):
            first = unvisited[0]
            failure = NondeterminismError(
                f'The journal has step "{first.name}-{first.count}" ({first.type}) that run() '
                "no longer reaches: the workflow code changed under a running instance"
            )

    if failure is not None:
        store.finish(
            instance_pk=instance_pk,
            token=token,
            status=InstanceStatus.ERRORED,
            error=_instance_error(failure),
            replay_cpu_ms=replay_cpu_ms,
            pending=driver.pending,
            meter_key=snapshot.meter,
            retention=snapshot.retention,
        )
        return False

    if suspended:
        deadlines = [d for d in driver.deadlines if d is not None]
        wake_at = min(deadlines) if deadlines else None
        written = store.suspend(
            instance_pk=instance_pk,
            token=token,
            wake_at=wake_at,
            seen_event_seq=snapshot.event_seq,
            pause=state.pause_requested,
            replay_cpu_ms=replay_cpu_ms,
            pending=driver.pending,
            meter_key=snapshot.meter,
        )
        now = clock.now()
        if written is not None and written > now:
            dispatch_soon(instance_pk, written, now)
        return written is not None and written <= now

    try:
        check_persistable(outcome, what="The output of run()")
    except NotPersistableError as exc:
        store.finish(
            instance_pk=instance_pk,
            token=token,
            status=InstanceStatus.ERRORED,
            error=_instance_error(StepOutputError(str(exc))),
            replay_cpu_ms=replay_cpu_ms,
            pending=driver.pending,
            meter_key=snapshot.meter,
            retention=snapshot.retention,
        )
        return False
    store.finish(
        instance_pk=instance_pk,
        token=token,
        status=InstanceStatus.COMPLETE,
        output=outcome,
        replay_cpu_ms=replay_cpu_ms,
        pending=driver.pending,
        meter_key=snapshot.meter,
        retention=snapshot.retention,
    )
    return False

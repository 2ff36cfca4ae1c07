"""One activation: claim an instance, replay ``run()`` from the top, record the outcome.

The same code runs under the inline dispatcher (tests, scripts) and under a
Celery worker; only the caller differs. An activation has three parts: the
pre-checks (is the workflow known, is the instance a poison one), driving
``run()`` (sync or async), and recording how it ended.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import inspect
import logging
import time
from collections.abc import Callable
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import DatabaseError

from workflows_app.models import InstanceStatus

from . import clock, registry
from .commands import Io
from .context import ActivationState, WorkflowStep
from .dispatch import dispatch_soon, get_dispatcher
from .drivers import AsyncDriver, CpuMeter, LeaseKeeper, SyncDriver
from .entrypoint import WorkflowEntrypoint, WorkflowEvent
from .errors import (
    LeaseLostError,
    NondeterminismError,
    NotPersistableError,
    StepOutputError,
    StoreUnavailableError,
    Suspended,
    WorkflowNotFoundError,
)
from .journal import store
from .serialization import check_persistable, error_to_dict

logger = logging.getLogger(__name__)

# An event arriving mid-activation makes the activation replay again at once;
# past this many rounds it hands the instance back to the dispatcher instead.
MAX_IMMEDIATE_REPLAYS = 50


# A doorbell's worker keeps taking due instances for this long, then hands
# the rest to the next doorbell (one task stays far inside its time limit:
# an activation it starts still ends within WORKFLOWS_ACTIVATION_BUDGET_SECONDS
# plus one step, and CELERY_TASK_TIME_LIMIT leaves 60 s beyond that).
DRAIN_SECONDS = 5.0


def drain(*, seconds: float = DRAIN_SECONDS) -> int:
    """Answer a doorbell: run the most overdue due instance, then the next, until none is due.

    Each turn claims whichever instance has been due longest (``claim_next``),
    so a stale doorbell costs one empty claim and an instance whose worker died
    is taken again as soon as its lease expires, ahead of younger work. Starts
    no new activation after ``seconds``; if it stopped with work possibly left,
    it rings one doorbell for the rest. Returns the number of activations run.
    """
    started = time.monotonic()
    ran = 0
    while True:
        claimed = store.claim_next(lease_seconds=settings.WORKFLOWS_LEASE_SECONDS)
        if claimed is None:
            return ran
        ran += 1
        if _run_claimed(*claimed) is None:
            return ran  # a database error: leave the rest to the next doorbell
        if time.monotonic() - started >= seconds:
            get_dispatcher().ring(1)
            return ran


def advance(instance_pk: int) -> None:
    """Run activations of this one instance while it has work due now (inline dispatcher).

    Past the activation budget the instance is handed back to the dispatcher
    rather than replayed again here, so one long workflow cannot hold a worker.
    """
    started = time.monotonic()
    for _ in range(MAX_IMMEDIATE_REPLAYS):
        if not activate(instance_pk):
            return
        if time.monotonic() - started > settings.WORKFLOWS_ACTIVATION_BUDGET_SECONDS:
            break
    get_dispatcher().dispatch([instance_pk])


def activate(instance_pk: int) -> bool:
    """One activation of this instance. Returns True when it is due again right away."""
    token = store.claim(instance_pk, lease_seconds=settings.WORKFLOWS_LEASE_SECONDS)
    if token is None:
        return False  # not due, finished, or another worker holds a live lease
    return bool(_run_claimed(instance_pk, token))


def _run_claimed(instance_pk: int, token: str) -> bool | None:
    """One activation of an instance this worker just claimed.

    True: due again right away; None: the database failed (the lease is given back).
    """
    try:
        return _activate_claimed(instance_pk, token)
    except LeaseLostError:
        logger.info("instance %s: lease lost, stopping this activation", instance_pk)
        return False
    except (StoreUnavailableError, DatabaseError):
        # The journal could not be written; nothing half-done is visible to the
        # workflow. Give the lease back: the instance is due again at once.
        logger.warning("instance %s: database error, will retry", instance_pk, exc_info=True)
        with contextlib.suppress(DatabaseError):
            store.release(instance_pk=instance_pk, token=token)
        return None


def _activate_claimed(instance_pk: int, token: str) -> bool:
    """Pre-check the claimed instance, replay ``run()``, and record how it ended."""
    snapshot = store.load(instance_pk)
    activation = snapshot.activation(token=token, lease_seconds=settings.WORKFLOWS_LEASE_SECONDS)
    checked = _precheck(snapshot)
    if isinstance(checked, BaseException):
        return _errored(activation, checked)
    event = WorkflowEvent(
        payload=snapshot.params,
        timestamp=snapshot.created_at,
        instance_id=snapshot.instance_id,
        workflow_name=snapshot.workflow_name,
    )
    workflow = checked()
    keeper = LeaseKeeper(
        lambda: store.renew_lease(
            instance_pk=activation.instance_pk,
            token=activation.token,
            lease_seconds=activation.lease_seconds,
        ),
        interval=activation.lease_seconds / 3,
    )
    state = ActivationState(snapshot, activation)
    return _record(state, _drive(workflow, event, state, keeper))


# --- Pre-checks ------------------------------------------------------------------


def _precheck(snapshot: store.Snapshot) -> type[WorkflowEntrypoint] | Exception:
    """The workflow class to replay, or why the instance cannot run at all."""
    workflow_class = registry.get(snapshot.workflow_name)
    if workflow_class is None:
        return WorkflowNotFoundError(
            f"No workflow named {snapshot.workflow_name!r} is registered in this deployment"
        )
    if snapshot.delivery_count > settings.WORKFLOWS_MAX_DELIVERIES:
        # Every recent activation died without progress (kill, OOM): a poison instance.
        return RuntimeError(
            f"The instance was picked up {settings.WORKFLOWS_MAX_DELIVERIES} times without "
            "making progress; its worker keeps dying"
        )
    return workflow_class


# --- Driving run() ----------------------------------------------------------------


@dataclasses.dataclass(kw_only=True)
class _Replay:
    """How one replay of ``run()`` ended, and what it leaves to write."""

    outcome: Any = None
    failure: BaseException | None = None
    suspended: bool = False
    replay_cpu_ms: float = 0.0
    pending: list[Io]  # deferred writes not committed yet
    deadlines: list[dt.datetime | None]  # of the parked branches (None: a pause)


def _drive(
    workflow: WorkflowEntrypoint, event: WorkflowEvent, state: ActivationState, keeper: LeaseKeeper
) -> _Replay:
    """Replay ``run()`` once with the driver its kind needs (``def`` or ``async def``)."""
    driver: SyncDriver | AsyncDriver
    run: Callable[[], Any]
    meter = CpuMeter()
    cpu_limit_ms = state.snapshot.cpu_ms_per_step_limit  # enforced while each body runs
    if inspect.iscoroutinefunction(workflow.run):
        driver = async_driver = AsyncDriver(keeper, cpu_limit_ms=cpu_limit_ms)
        step = WorkflowStep(state, driver)

        async def drive() -> Any:
            return await async_driver.drive(workflow.run(event, step), meter)

        run = async_to_sync(drive)
    else:
        driver = SyncDriver(keeper, cpu_limit_ms=cpu_limit_ms)
        run = functools.partial(workflow.run, event, WorkflowStep(state, driver))

    replay = _Replay(pending=driver.pending, deadlines=driver.deadlines)
    cpu_started = time.thread_time()
    try:
        with driver.watched():  # the lease and a held step result stay safe however slow run() is
            replay.outcome = run()
    except Suspended:
        replay.suspended = True
    except (LeaseLostError, StoreUnavailableError, KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        replay.failure = exc
    if isinstance(driver, AsyncDriver):
        # run() ran on another thread: the meter counted its slices there.
        replay.replay_cpu_ms = meter.ms
    else:
        replay.replay_cpu_ms = (time.thread_time() - cpu_started - driver.io_cpu_s) * 1000
    return replay


def _failure(state: ActivationState, replay: _Replay) -> BaseException | None:
    """Why the instance ends errored: run() raised, or it no longer matches its journal."""
    if state.nondeterminism is not None:
        return state.nondeterminism
    if replay.failure is not None:
        return replay.failure
    unvisited = state.unvisited()
    if unvisited and not (replay.suspended and state.pause_requested):
        first = unvisited[0]
        return NondeterminismError(
            f'The journal has step "{first.name}-{first.count}" ({first.type}) that run() '
            "no longer reaches: the workflow code changed under a running instance"
        )
    return None


# --- Recording the outcome --------------------------------------------------------


def _record(state: ActivationState, replay: _Replay) -> bool:
    """Write how the replay ended; True when the instance is due again right away."""
    activation = state.activation
    failure = _failure(state, replay)
    if failure is not None:
        return _errored(activation, failure, replay)
    if replay.suspended:
        return _suspend(state, replay)
    try:
        check_persistable(replay.outcome, what="The output of run()")
    except NotPersistableError as exc:
        return _errored(activation, StepOutputError(str(exc)), replay)
    store.finish(
        activation=activation,
        status=InstanceStatus.COMPLETE,
        output=replay.outcome,
        replay_cpu_ms=replay.replay_cpu_ms,
        pending=replay.pending,
    )
    return False


def _suspend(state: ActivationState, replay: _Replay) -> bool:
    """Release the instance until its earliest deadline (or a resume, for a pause)."""
    deadlines = [d for d in replay.deadlines if d is not None]
    written = store.suspend(
        activation=state.activation,
        wake_at=min(deadlines) if deadlines else None,
        seen_event_seq=state.snapshot.event_seq,
        pause=state.pause_requested,
        replay_cpu_ms=replay.replay_cpu_ms,
        pending=replay.pending,
    )
    now = clock.now()
    if written is not None and written > now:
        dispatch_soon(written, now)
    return written is not None and written <= now


def _errored(
    activation: store.Activation, error: BaseException, replay: _Replay | None = None
) -> bool:
    """End the instance errored with ``error``; never due again (returns False)."""
    stored = error_to_dict(error)
    store.finish(
        activation=activation,
        status=InstanceStatus.ERRORED,
        error={
            "name": stored["name"],
            "message": stored["message"],
            "traceback": stored["traceback"],
        },
        replay_cpu_ms=0 if replay is None else replay.replay_cpu_ms,
        pending=() if replay is None else replay.pending,
    )
    return False

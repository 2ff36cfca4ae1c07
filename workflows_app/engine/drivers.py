"""Drivers: how the step generators' commands are performed.

``SyncDriver`` serves a plain ``def run``: store writes run directly in the
activation thread, step bodies in a worker thread joined with the attempt's
timeout, and a Park raises a suspension that unwinds ``run()``.

``AsyncDriver`` serves ``async def run``, which runs on an event loop in a
helper thread (asgiref's ``async_to_sync``): store writes hop back to the
activation thread (thread-sensitive ``sync_to_async``, one DB connection per
activation), and a Park is a future that never resolves. The activation
suspends once every branch is parked and nothing is executing; that keeps
``asyncio.gather`` and ``asyncio.wait(FIRST_COMPLETED)`` correct, where
raising at the first pending wait would abort sibling branches.

Both hand the watchdog (``watchdog.py``) what it needs to keep the lease and
the held success write safe while ``run()`` is busy between steps, and stop a
step body at its timeout or as soon as it passes the plan's CPU limit (its CPU
is read from outside its thread while it runs).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import inspect
import queue
import threading
import time
import types
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any

from asgiref.sync import sync_to_async
from django.db import connections

from . import watchdog
from .commands import AttemptResult, Execute, Io, Park
from .errors import CpuLimitExceededError, LeaseLostError, Suspended, WorkflowError
from .journal import store

# Loop turns with no progress that prove every branch is parked. A finished
# step reaches its awaiting code through chains of callbacks (nested gathers
# add a few turns each); twenty turns cost microseconds and cover deep nesting.
_QUIESCENCE_CHECKS = 20
_IDLE_RECHECK_SECONDS = 0.05
# Shortest wait between two reads of a running body's CPU when the plan limits it:
# the most a body can go over the limit before it is stopped (a body thread's
# CPU cannot grow faster than the wall clock, so reads are further apart while
# the body is far from the limit).
_CPU_POLL_MIN_SECONDS = 0.002


class CpuMeter:
    def __init__(self) -> None:
        self.seconds = 0.0

    @property
    def ms(self) -> float:
        return self.seconds * 1000


class _BodyStopped(Exception):
    """A coroutine body was stopped: ``why`` is "timeout" or "cpu"."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


@types.coroutine
def _metered(
    coro: Coroutine[Any, Any, Any], meter: CpuMeter | watchdog.CoroutineRun
) -> Generator[Any, Any, Any]:
    """Drive ``coro``, adding the thread CPU time of each of its slices to ``meter``.

    Exact for coroutines sharing a loop: time spent in other tasks, or waiting
    on I/O, falls between slices and is not counted. A step body's meter is a
    ``CoroutineRun``: its CPU limit is checked after every slice, and the
    watchdog stops a slice that runs past the deadline or the limit.
    """
    watch = meter if isinstance(meter, watchdog.CoroutineRun) else None
    send_value: Any = None
    to_throw: BaseException | None = None
    while True:
        started = time.thread_time()
        if watch is not None:
            watch.begin()
        try:
            yielded = coro.throw(to_throw) if to_throw is not None else coro.send(send_value)
        except StopIteration as stop:
            return stop.value
        except watchdog.StepAbandoned:
            if watch is None:
                raise
            raise _BodyStopped(watch.why or "timeout") from None
        finally:
            if watch is not None:
                watch.end()
            meter.seconds += time.thread_time() - started
        if watch is not None and watch.cpu_limit_ms is not None and watch.ms > watch.cpu_limit_ms:
            coro.close()
            raise _BodyStopped("cpu")
        try:
            send_value, to_throw = (yield yielded), None
        except BaseException as exc:
            send_value, to_throw = None, exc


async def metered(coro: Coroutine[Any, Any, Any], meter: CpuMeter | watchdog.CoroutineRun) -> Any:
    return await _metered(coro, meter)


def _run_body(
    fn: Callable[..., Any], args: tuple[Any, ...], run: watchdog.BodyRun
) -> AttemptResult:
    """Run a step body in the current (worker) thread, measuring its CPU and wall time.

    ``run`` lets the waiting side read the body's CPU while it runs and stop it.
    """
    wall_started, cpu_started = time.perf_counter(), time.thread_time()
    run.begin()
    try:
        value = fn(*args)
        if inspect.isawaitable(value):
            value = asyncio.run(_as_coroutine(value))
        return AttemptResult(
            value=value,
            cpu_ms=(time.thread_time() - cpu_started) * 1000,
            wall_ms=(time.perf_counter() - wall_started) * 1000,
        )
    except BaseException as exc:  # SystemExit or KeyboardInterrupt from a body fail the attempt
        return AttemptResult(
            error=exc if isinstance(exc, Exception) else RuntimeError(repr(exc)),
            cpu_ms=(time.thread_time() - cpu_started) * 1000,
            wall_ms=(time.perf_counter() - wall_started) * 1000,
        )
    finally:
        run.end()  # nothing is raised into this thread after this
        # A body that used the ORM opened a connection in this thread; an idle
        # pooled thread must not hold it (it would outlive its usefulness and
        # keep databases from being dropped).
        connections.close_all()


async def _as_coroutine(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


_Work = tuple[
    Callable[..., Any],
    tuple[Any, ...],
    concurrent.futures.Future[AttemptResult],
    watchdog.BodyRun,
]


class _BodyThreads:
    """Reusable daemon threads for sync step bodies.

    Not a fixed-size pool: a body that overran its timeout is stopped (see
    ``watchdog``), but one stuck in a C call keeps its thread busy, and new
    work then gets a new thread instead of queueing behind it. Idle threads
    wait for the next body.
    """

    _IDLE_SECONDS = 60.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle = 0
        self._work: queue.SimpleQueue[_Work] = queue.SimpleQueue()

    def submit(
        self, fn: Callable[..., Any], args: tuple[Any, ...], run: watchdog.BodyRun
    ) -> concurrent.futures.Future[AttemptResult]:
        future: concurrent.futures.Future[AttemptResult] = concurrent.futures.Future()
        with self._lock:
            spawn = self._idle == 0
            if not spawn:
                self._idle -= 1
        self._work.put((fn, args, future, run))
        if spawn:
            threading.Thread(target=self._serve, name="workflow-step", daemon=True).start()
        return future

    def _serve(self) -> None:
        while True:
            try:
                fn, args, future, run = self._work.get(timeout=self._IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    if self._idle > 0:
                        self._idle -= 1
                        return
                continue  # a submit counted on this thread: stay for its work
            try:
                result = _run_body(fn, args, run)
                # Nobody waits any more if the attempt timed out or the activation stopped.
                with contextlib.suppress(concurrent.futures.InvalidStateError):
                    future.set_result(result)
            except watchdog.StepAbandoned:
                # Delivered just as the body ended (outside its try): it is over anyway.
                run.end()
            with self._lock:
                self._idle += 1


_body_threads = _BodyThreads()


def start_body_thread(
    fn: Callable[..., Any], args: tuple[Any, ...], run: watchdog.BodyRun | None = None
) -> concurrent.futures.Future[AttemptResult]:
    """Run a sync step body on a worker thread: a timed-out body cannot hold back the activation."""
    return _body_threads.submit(fn, args, run or watchdog.BodyRun())


def _timed_out(wall_started: float, cpu_ms: float = 0.0) -> AttemptResult:
    return AttemptResult(
        timed_out=True, cpu_ms=cpu_ms, wall_ms=(time.perf_counter() - wall_started) * 1000
    )


def _over_cpu(wall_started: float, cpu_ms: float, limit_ms: float) -> AttemptResult:
    return AttemptResult(
        error=CpuLimitExceededError(
            f"CPU limit exceeded: the attempt used {cpu_ms:.1f} ms of CPU time; "
            f"the account's plan allows {limit_ms:g} ms per step"
        ),
        cpu_ms=cpu_ms,
        wall_ms=(time.perf_counter() - wall_started) * 1000,
    )


class _BodyWatch:
    """The waiting side of a thread-run body: when to look again, and whether to stop it."""

    def __init__(self, run: watchdog.BodyRun, timeout_s: float, cpu_limit_ms: float | None):
        self.run = run
        self.deadline = time.monotonic() + timeout_s
        self.cpu_limit_ms = cpu_limit_ms
        self.wall_started = time.perf_counter()

    def wait_s(self, most: float) -> float:
        """How long to wait for the body before checking it again (at most ``most``)."""
        wait = min(most, self.deadline - time.monotonic())
        if self.cpu_limit_ms is not None:
            used = self.run.cpu_seconds() or 0.0
            wait = min(wait, max(_CPU_POLL_MIN_SECONDS, self.cpu_limit_ms / 1000 - used))
        return max(0.0, wait)

    def verdict(self) -> AttemptResult | None:
        """Stop the body and say why if it is over its CPU limit or its timeout; else None."""
        if self.cpu_limit_ms is not None:
            used = self.run.cpu_seconds()
            if used is not None and used * 1000 > self.cpu_limit_ms:
                cpu_ms = watchdog.abandon(self.run, "cpu")
                return _over_cpu(self.wall_started, cpu_ms, self.cpu_limit_ms)
        if time.monotonic() >= self.deadline:
            return _timed_out(self.wall_started, watchdog.abandon(self.run, "timeout"))
        return None


Keepalive = Callable[[], bool]


class LeaseKeeper:
    """Renews the activation's lease every ``interval`` seconds while it works.

    ``renew`` returns False once the lease is gone (the instance was
    terminated, deleted or taken over): the activation must then stop.
    ``extended_at`` is when the lease was last extended (by ``keep`` or by a
    write); the watchdog renews it when the activation's thread cannot.
    """

    def __init__(self, renew: Keepalive, interval: float) -> None:
        self.renew = renew
        self.interval = interval
        self.extended_at = time.monotonic()

    def keep(self) -> bool:
        kept = self.renew()
        if kept:
            self.extended_at = time.monotonic()
        return kept

    def due(self) -> float:
        """Seconds until the lease should be renewed (0 when it should be now)."""
        return max(0.0, self.extended_at + self.interval - time.monotonic())


def _no_write() -> None:
    """The write held writes are committed with when nothing else is written."""


def _commit_held(pending: list[Io]) -> None:
    store.apply(_no_write, {}, pending)


class SyncDriver:
    def __init__(self, keeper: LeaseKeeper, *, cpu_limit_ms: float | None = None) -> None:
        self.deadlines: list[dt.datetime | None] = []
        self.io_cpu_s = 0.0  # the activation thread's CPU spent writing and waiting on bodies
        self._keeper = keeper
        self._cpu_limit_ms = cpu_limit_ms
        self.heartbeat = watchdog.Heartbeat(keeper, _commit_held)
        # Deferred writes, committed with the next write, the activation's end,
        # or by the watchdog if run() is slow to reach the next write.
        self.pending: list[Io] = self.heartbeat.pending

    def watched(self) -> contextlib.AbstractContextManager[Any]:
        """Keep the lease and the held writes safe for the whole replay of run()."""
        return watchdog.watch(self.heartbeat)

    def perform(self, generator: Generator[Any, Any, Any]) -> Any:
        value: Any = None
        to_throw: BaseException | None = None
        while True:
            try:
                command = generator.throw(to_throw) if to_throw else generator.send(value)
            except StopIteration as stop:
                return stop.value
            value, to_throw = None, None
            if isinstance(command, Park):
                self.deadlines.append(command.deadline)
                generator.close()
                raise Suspended
            try:
                value = self._perform(command)
            except BaseException as exc:
                to_throw = exc

    def _perform(self, command: Io | Execute) -> Any:
        started = time.thread_time()
        try:
            if isinstance(command, Io):
                if command.deferrable:
                    self.heartbeat.hold(command)
                    return None
                with self.heartbeat.lock:
                    result = store.apply(command.fn, command.kwargs, self.pending)
                    self.heartbeat.written()
                return result
            return self._execute(command)
        finally:
            self.io_cpu_s += time.thread_time() - started

    def _execute(self, command: Execute) -> AttemptResult:
        """Run one attempt's body; stop it at its timeout or over the plan's CPU limit."""
        run = watchdog.BodyRun()
        watch = _BodyWatch(run, command.timeout_s, self._cpu_limit_ms)
        future = start_body_thread(command.fn, command.args, run)
        while True:
            try:
                return future.result(timeout=watch.wait_s(self._keeper.due()))
            except concurrent.futures.TimeoutError:
                pass
            verdict = watch.verdict()
            if verdict is not None:
                return verdict
            if not self._keeper.due() and not self._keeper.keep():
                watchdog.abandon(run, "lease")
                raise LeaseLostError


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _quiet_abandoned_branches(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """A race's losing branch may end with a step error nobody awaits; that is expected."""
    if isinstance(context.get("exception"), WorkflowError):
        return
    loop.default_exception_handler(context)


class AsyncDriver:
    def __init__(self, keeper: LeaseKeeper, *, cpu_limit_ms: float | None = None) -> None:
        self._keeper = keeper
        self._cpu_limit_ms = cpu_limit_ms
        self.heartbeat = watchdog.Heartbeat(keeper, _commit_held)
        self.pending: list[Io] = self.heartbeat.pending
        self._executing = 0  # step bodies running right now, across branches
        self.deadlines: list[dt.datetime | None] = []
        self._inflight = 0
        self._progress = 0
        self._changed: asyncio.Event | None = None
        self._suspending = False
        self._keeper_timer: asyncio.TimerHandle | None = None

    def watched(self) -> contextlib.AbstractContextManager[Any]:
        """Keep the lease and the held writes safe for the whole replay of run()."""
        return watchdog.watch(self.heartbeat)

    def _touch(self) -> None:
        self._progress += 1
        if self._changed is not None:
            self._changed.set()

    async def perform(self, generator: Generator[Any, Any, Any]) -> Any:
        value: Any = None
        to_throw: BaseException | None = None
        while True:
            try:
                command = generator.throw(to_throw) if to_throw else generator.send(value)
            except StopIteration as stop:
                return stop.value
            value, to_throw = None, None
            if isinstance(command, Park):
                self.deadlines.append(command.deadline)
                self._touch()
                try:
                    await asyncio.get_running_loop().create_future()  # never resolved
                except asyncio.CancelledError:
                    if not self._suspending:
                        # run() itself cancelled this branch (a race's loser):
                        # its deadline no longer needs a wake-up, and the waiter
                        # is closed so no replay hands it an event.
                        self.deadlines.remove(command.deadline)
                        if command.on_cancel is not None:
                            self.heartbeat.hold(command.on_cancel)
                    raise
                finally:
                    generator.close()
            self._inflight += 1
            try:
                value = await self._perform(command)
            except BaseException as exc:
                to_throw = exc
            finally:
                self._inflight -= 1
                self._touch()

    async def _perform(self, command: Io | Execute) -> Any:
        if isinstance(command, Io):
            if command.deferrable and not self._executing:
                self.heartbeat.hold(command)
                return None
            # Held writes go with this one; a body running in another branch
            # means a write that can be deferred is not (a crash must not lose it).
            # The batch is claimed before awaiting, so a concurrent write from
            # another branch (or the watchdog) cannot apply (or drop) the same held writes.
            with self.heartbeat.lock:
                batch = self.pending[:]
                self.pending.clear()
                held_since, self.heartbeat.held_since = self.heartbeat.held_since, None
            try:
                result = await sync_to_async(store.apply, thread_sensitive=True)(
                    command.fn, command.kwargs, batch
                )
            except BaseException:
                with self.heartbeat.lock:
                    self.pending[:0] = batch  # not written: still owed (a pause, say)
                    if batch:
                        self.heartbeat.held_since = held_since or time.monotonic()
                raise
            self._keeper.extended_at = time.monotonic()
            return result
        self._executing += 1
        try:
            return await self._execute(command)
        finally:
            self._executing -= 1

    async def _execute(self, command: Execute) -> Any:
        if inspect.iscoroutinefunction(command.fn):
            return await self._execute_coroutine(command)
        run = watchdog.BodyRun()
        watch = _BodyWatch(run, command.timeout_s, self._cpu_limit_ms)
        waiter = asyncio.wrap_future(start_body_thread(command.fn, command.args, run))
        while True:
            done, _ = await asyncio.wait({waiter}, timeout=watch.wait_s(command.timeout_s))
            if done:
                return waiter.result()
            verdict = watch.verdict()
            if verdict is not None:
                waiter.cancel()
                return verdict

    async def _execute_coroutine(self, command: Execute) -> AttemptResult:
        """An ``async def`` body runs on this loop; a slice that never awaits is stopped too."""
        wall_started = time.perf_counter()
        meter = watchdog.CoroutineRun(
            deadline=time.monotonic() + command.timeout_s, cpu_limit_ms=self._cpu_limit_ms
        )
        with watchdog.watching_coroutine(meter):
            try:
                value = await asyncio.wait_for(
                    metered(command.fn(*command.args), meter), command.timeout_s
                )
            except TimeoutError:
                return _timed_out(wall_started, meter.ms)
            except (_BodyStopped, watchdog.StepAbandoned) as stopped:
                why = stopped.why if isinstance(stopped, _BodyStopped) else meter.why
                if why == "cpu" and self._cpu_limit_ms is not None:
                    return _over_cpu(wall_started, meter.ms, self._cpu_limit_ms)
                return _timed_out(wall_started, meter.ms)
            except Exception as exc:
                return AttemptResult(
                    error=exc, cpu_ms=meter.ms, wall_ms=(time.perf_counter() - wall_started) * 1000
                )
        return AttemptResult(
            value=value, cpu_ms=meter.ms, wall_ms=(time.perf_counter() - wall_started) * 1000
        )

    async def _keep_lease(self) -> None:
        renew = sync_to_async(self._keeper.keep, thread_sensitive=True)
        loop = asyncio.get_running_loop()
        while True:
            # Our own timer, known by handle, so the idle check can tell it
            # apart from timers of the workflow's code.
            tick: asyncio.Future[None] = loop.create_future()
            self._keeper_timer = loop.call_later(self._keeper.interval, _resolve, tick)
            await tick
            if not await renew():
                raise LeaseLostError

    def _loop_idle(self) -> bool:
        """No callback ready to run and no timer pending but the lease keeper's.

        Relies on the default asyncio loop's internals; on another loop it
        answers True and the progress check alone decides.
        """
        loop = asyncio.get_running_loop()
        ready, scheduled = getattr(loop, "_ready", None), getattr(loop, "_scheduled", None)
        if ready is None or scheduled is None:
            return True
        if ready:
            return False
        return not any(
            not handle.cancelled() and handle is not self._keeper_timer for handle in scheduled
        )

    async def drive(self, coro: Coroutine[Any, Any, Any], meter: CpuMeter) -> Any:
        """Run ``run()`` until it returns, raises, or every branch is parked (Suspended)."""
        asyncio.get_running_loop().set_exception_handler(_quiet_abandoned_branches)
        self._changed = asyncio.Event()
        task = asyncio.ensure_future(metered(coro, meter))
        keeper = asyncio.ensure_future(self._keep_lease())
        try:
            return await self._drive(task, keeper)
        finally:
            keeper.cancel()

    async def _drive(self, task: asyncio.Future[Any], keeper: asyncio.Future[None]) -> Any:
        assert self._changed is not None
        while not task.done():
            self._changed.clear()
            changed = asyncio.ensure_future(self._changed.wait())
            # The timeout re-checks idleness after a timer of the workflow's code
            # fired without any step starting.
            await asyncio.wait(
                {task, changed, keeper},
                timeout=_IDLE_RECHECK_SECONDS,
                return_when=asyncio.FIRST_COMPLETED,
            )
            changed.cancel()
            if keeper.done() and not task.done():
                self._suspending = True
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
                raise LeaseLostError
            if task.done() or self._inflight or not self.deadlines:
                continue
            marker = self._progress
            for _ in range(_QUIESCENCE_CHECKS):
                await asyncio.sleep(0)
            if (
                not task.done()
                and not self._inflight
                and marker == self._progress
                and self._loop_idle()
            ):
                self._suspending = True
                task.cancel()
                with contextlib.suppress(BaseException):  # the cancellation we asked for
                    await task
                raise Suspended
        return task.result()

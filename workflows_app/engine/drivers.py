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

from .commands import AttemptResult, Execute, Io, Park
from .errors import LeaseLostError, Suspended, WorkflowError
from .journal import store

# Loop turns with no progress that prove every branch is parked. A finished
# step reaches its awaiting code through chains of callbacks (nested gathers
# add a few turns each); twenty turns cost microseconds and cover deep nesting.
_QUIESCENCE_CHECKS = 20
_IDLE_RECHECK_SECONDS = 0.05


class CpuMeter:
    def __init__(self) -> None:
        self.seconds = 0.0

    @property
    def ms(self) -> float:
        return self.seconds * 1000


@types.coroutine
def _metered(coro: Coroutine[Any, Any, Any], meter: CpuMeter) -> Generator[Any, Any, Any]:
    """Drive ``coro``, adding the thread CPU time of each of its slices to ``meter``.

    Exact for coroutines sharing a loop: time spent in other tasks, or waiting
    on I/O, falls between slices and is not counted.
    """
    send_value: Any = None
    to_throw: BaseException | None = None
    while True:
        started = time.thread_time()
        try:
            yielded = coro.throw(to_throw) if to_throw is not None else coro.send(send_value)
        except StopIteration as stop:
            return stop.value
        finally:
            meter.seconds += time.thread_time() - started
        try:
            send_value, to_throw = (yield yielded), None
        except BaseException as exc:
            send_value, to_throw = None, exc


async def metered(coro: Coroutine[Any, Any, Any], meter: CpuMeter) -> Any:
    return await _metered(coro, meter)


def _run_body(fn: Callable[..., Any], args: tuple[Any, ...]) -> AttemptResult:
    """Run a step body in the current (worker) thread, measuring its CPU and wall time."""
    wall_started, cpu_started = time.perf_counter(), time.thread_time()
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
        # A body that used the ORM opened a connection in this thread; an idle
        # pooled thread must not hold it (it would outlive its usefulness and
        # keep databases from being dropped).
        connections.close_all()


async def _as_coroutine(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


class _BodyThreads:
    """Reusable daemon threads for sync step bodies.

    Not a fixed-size pool: a body that overran its timeout keeps its thread
    busy (Python cannot kill a thread), and new work then gets a new thread
    instead of queueing behind it. Idle threads wait for the next body.
    """

    _IDLE_SECONDS = 60.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle = 0
        self._work: queue.SimpleQueue[
            tuple[Callable[..., Any], tuple[Any, ...], concurrent.futures.Future[AttemptResult]]
        ] = queue.SimpleQueue()

    def submit(
        self, fn: Callable[..., Any], args: tuple[Any, ...]
    ) -> concurrent.futures.Future[AttemptResult]:
        future: concurrent.futures.Future[AttemptResult] = concurrent.futures.Future()
        with self._lock:
            spawn = self._idle == 0
            if not spawn:
                self._idle -= 1
        self._work.put((fn, args, future))
        if spawn:
            threading.Thread(target=self._serve, name="workflow-step", daemon=True).start()
        return future

    def _serve(self) -> None:
        while True:
            try:
                fn, args, future = self._work.get(timeout=self._IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    if self._idle > 0:
                        self._idle -= 1
                        return
                continue  # a submit counted on this thread: stay for its work
            result = _run_body(fn, args)
            # Nobody waits any more if the attempt timed out or the activation stopped.
            with contextlib.suppress(concurrent.futures.InvalidStateError):
                future.set_result(result)
            with self._lock:
                self._idle += 1


_body_threads = _BodyThreads()


def start_body_thread(
    fn: Callable[..., Any], args: tuple[Any, ...]
) -> concurrent.futures.Future[AttemptResult]:
    """Run a sync step body on a worker thread: a timed-out body cannot hold back the activation."""
    return _body_threads.submit(fn, args)


def _timed_out(wall_started: float) -> AttemptResult:
    return AttemptResult(timed_out=True, wall_ms=(time.perf_counter() - wall_started) * 1000)


Keepalive = Callable[[], bool]


class LeaseKeeper:
    """Renews the activation's lease every ``interval`` seconds while it works.

    ``renew`` returns False once the lease is gone (the instance was
    terminated, deleted or taken over): the activation must then stop.
    """

    def __init__(self, renew: Keepalive, interval: float) -> None:
        self.renew = renew
        self.interval = interval


class SyncDriver:
    def __init__(self, keeper: LeaseKeeper) -> None:
        self.deadlines: list[dt.datetime | None] = []
        self.io_cpu_s = 0.0
        self._keeper = keeper
        # Deferred writes, committed with the next write (or the activation's end).
        self.pending: list[Io] = []

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
        if isinstance(command, Io):
            if command.deferrable:
                self.pending.append(command)
                return None
            started = time.thread_time()
            try:
                result = store.apply(command.fn, command.kwargs, self.pending)
                self.pending.clear()
                return result
            finally:
                self.io_cpu_s += time.thread_time() - started
        wall_started = time.perf_counter()
        deadline = time.monotonic() + command.timeout_s
        future = start_body_thread(command.fn, command.args)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return _timed_out(wall_started)
            try:
                return future.result(timeout=min(remaining, self._keeper.interval))
            except concurrent.futures.TimeoutError:
                if not self._keeper.renew():
                    raise LeaseLostError from None


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _quiet_abandoned_branches(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """A race's losing branch may end with a step error nobody awaits; that is expected."""
    if isinstance(context.get("exception"), WorkflowError):
        return
    loop.default_exception_handler(context)


class AsyncDriver:
    def __init__(self, keeper: LeaseKeeper) -> None:
        self._keeper = keeper
        self.pending: list[Io] = []
        self._executing = 0  # step bodies running right now, across branches
        self.deadlines: list[dt.datetime | None] = []
        self._inflight = 0
        self._progress = 0
        self._changed: asyncio.Event | None = None
        self._suspending = False
        self._keeper_timer: asyncio.TimerHandle | None = None

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
                            self.pending.append(command.on_cancel)
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
                self.pending.append(command)
                return None
            # Held writes go with this one; a body running in another branch
            # means a write that can be deferred is not (a crash must not lose it).
            # The batch is claimed before awaiting, so a concurrent write from
            # another branch cannot apply (or drop) the same held writes.
            batch = self.pending[:]
            self.pending.clear()
            try:
                return await sync_to_async(store.apply, thread_sensitive=True)(
                    command.fn, command.kwargs, batch
                )
            except BaseException:
                self.pending[:0] = batch  # not written: still owed (a pause, say)
                raise
        self._executing += 1
        try:
            return await self._execute(command)
        finally:
            self._executing -= 1

    async def _execute(self, command: Execute) -> Any:
        wall_started = time.perf_counter()
        if inspect.iscoroutinefunction(command.fn):
            meter = CpuMeter()
            try:
                value = await asyncio.wait_for(
                    metered(command.fn(*command.args), meter), command.timeout_s
                )
            except TimeoutError:
                return _timed_out(wall_started)
            except Exception as exc:
                return AttemptResult(
                    error=exc, cpu_ms=meter.ms, wall_ms=(time.perf_counter() - wall_started) * 1000
                )
            return AttemptResult(
                value=value, cpu_ms=meter.ms, wall_ms=(time.perf_counter() - wall_started) * 1000
            )
        future = start_body_thread(command.fn, command.args)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), command.timeout_s)
        except TimeoutError:
            return _timed_out(wall_started)

    async def _keep_lease(self) -> None:
        renew = sync_to_async(self._keeper.renew, thread_sensitive=True)
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

"""Watching an activation from outside its own threads: lease, deferred writes, runaway bodies.

One daemon thread per process (started by the first activation) does what the
activation's own threads cannot do while user code holds them:

* **Heartbeat.** ``run()`` may block or compute between two steps for longer
  than the lease (a misuse, but it must not re-run a finished step). The
  drivers extend the lease with every write and while a step body runs; when
  an activation has not extended it for half a lease, the watchdog renews it
  on its own database connection. A step's success write that the driver holds
  back (to commit it with the next write: one commit per step) is committed by
  the watchdog once it has been held for ``FLUSH_AFTER_SECONDS``, so slow code
  after a step never puts the step's result at risk.
* **Runaway step bodies.** Python cannot kill a thread. A step body that timed
  out or went over the plan's per-step CPU limit is stopped by raising
  ``StepAbandoned`` inside its thread (``PyThreadState_SetAsyncExc``), which
  ends any body running Python code within milliseconds. A body stuck in a C
  call (``time.sleep(10**6)``, a C extension's loop) does not see it: after
  ``STOP_GRACE_SECONDS`` the process is marked *tainted*.
* **Tainted processes.** A Celery prefork child that is tainted exits once its
  current task has returned and its result was handed to the parent, which
  starts a fresh child (``install_pool_child_recycling``). Any other process
  (the web server, a test, ``--pool solo`` or threads) cannot be exited for
  this: it logs the leak and carries on.

A body's CPU is read from outside its thread (``pthread_getcpuclockid``,
Linux and most Unixes), so a body stopped mid-run is billed for what it used.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from django.db import connections

logger = logging.getLogger(__name__)

# A held success write is committed on its own after this long (one extra commit
# only when run() is slow after a step; the common case keeps one per step).
FLUSH_AFTER_SECONDS = 1.0
# An abandoned body has this long to stop before its process is marked tainted.
STOP_GRACE_SECONDS = 2.0
_TICK_SECONDS = 0.25  # heartbeat checks
_FINE_TICK_SECONDS = 0.01  # while a coroutine body with a deadline runs on an event loop
_IDLE_AFTER_SECONDS = 60.0  # no activation for this long: the thread sleeps until one starts


class StepAbandoned(BaseException):
    """Raised inside a step body that timed out or went over its CPU limit, to stop it.

    A ``BaseException``, so ``except Exception`` in the body does not swallow it.
    """


# --- Threads seen from outside ---------------------------------------------------

_raise_in = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.py_object)(
    ("PyThreadState_SetAsyncExc", ctypes.pythonapi)
)
_clear_in = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p)(
    ("PyThreadState_SetAsyncExc", ctypes.pythonapi)
)


def _cpu_clock_of(ident: int) -> int | None:
    getter = getattr(time, "pthread_getcpuclockid", None)
    if getter is None:  # pragma: no cover - platforms without per-thread CPU clocks
        return None
    try:
        return int(getter(ident))
    except OSError:  # pragma: no cover
        return None


class BodyRun:
    """One run of step-body code on a thread: its CPU so far, and a way to stop it.

    ``begin``/``end`` are called in the running thread around the body;
    ``cpu_seconds`` and ``stop`` from any other thread. ``stop`` only ever
    raises inside the body: ``end`` closes the run under the same lock and
    clears an exception raised too late to be delivered.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.ident: int | None = None
        self._clock: int | None = None
        self._cpu_started = 0.0
        self.done = False
        self.stops = 0
        self.stopped_at: float | None = None
        self.why = ""  # "timeout" or "cpu" once stopped

    def begin(self) -> None:
        ident = threading.get_ident()
        self._cpu_started = time.thread_time()
        self.ident = ident
        self._clock = _cpu_clock_of(ident)

    def end(self) -> None:
        with self._lock:
            self.done = True
            if self.stops and self.ident is not None:
                _clear_in(self.ident, None)

    def cpu_seconds(self) -> float | None:
        """CPU the body used so far, read from outside; None where it cannot be measured."""
        clock = self._clock
        if clock is None:
            return None
        try:
            return max(0.0, time.clock_gettime(clock) - self._cpu_started)
        except OSError:  # the thread is gone
            return None

    def stop(self, why: str = "") -> bool:
        """Raise StepAbandoned in the body; False if it had already ended."""
        with self._lock:
            if self.done or self.ident is None:
                return False
            self.stops += 1
            self.stopped_at = time.monotonic()
            self.why = self.why or why
            _raise_in(self.ident, StepAbandoned)
            return True


def abandon(run: BodyRun, why: str) -> float:
    """Stop a body that timed out or went over its CPU limit; return the CPU ms it used.

    The watchdog checks that it really stopped and taints the process if not.
    """
    cpu = run.cpu_seconds()
    if run.stop(why):
        _watchdog.reap(run)
    return 0.0 if cpu is None else cpu * 1000


# --- The coroutine body watch ----------------------------------------------------


class CoroutineRun(BodyRun):
    """A coroutine step body on an event loop: a ``BodyRun`` per slice it runs.

    ``seconds`` adds up its slices (the CPU meter); a slice that never yields
    (a loop without ``await``) is stopped by the watchdog at the deadline or
    the CPU limit, since nothing on the blocked loop can.
    """

    def __init__(self, *, deadline: float, cpu_limit_ms: float | None) -> None:
        super().__init__()
        self.deadline = deadline
        self.cpu_limit_ms = cpu_limit_ms
        self.seconds = 0.0
        self.done = True  # between slices nothing is raised into the loop

    @property
    def ms(self) -> float:
        return self.seconds * 1000

    def begin(self) -> None:
        with self._lock:
            super().begin()
            self.done = False

    def over(self) -> str:
        """Why the running slice must stop now ("timeout", "cpu"), or ""."""
        if self.done:
            return ""
        if time.monotonic() >= self.deadline:
            return "timeout"
        if self.cpu_limit_ms is not None:
            cpu = self.cpu_seconds()
            if cpu is not None and (self.seconds + cpu) * 1000 > self.cpu_limit_ms:
                return "cpu"
        return ""


@contextlib.contextmanager
def watching_coroutine(run: CoroutineRun) -> Any:
    _watchdog.add_coroutine(run)
    try:
        yield run
    finally:
        run.end()  # however the body ended, nothing is raised into the loop after this
        _watchdog.remove_coroutine(run)


# --- Heartbeat -------------------------------------------------------------------


class Keeper(Protocol):
    interval: float
    extended_at: float

    def keep(self) -> bool: ...


class Heartbeat:
    """What the watchdog needs to keep one activation's lease and its held writes.

    The driver appends held writes to ``pending`` and claims or writes them
    only while holding ``lock``; ``held_since`` is when the oldest was held.
    ``flush`` commits them (with ``store.apply``) on the watchdog's connection.
    """

    def __init__(self, keeper: Keeper, flush: Callable[[list[Any]], None]) -> None:
        self.keeper = keeper
        self.lock = threading.Lock()
        self.pending: list[Any] = []
        self.held_since: float | None = None
        self._flush = flush
        self.active = False
        self.lease_lost = False
        # An activation inside an outer transaction (a test, a caller's atomic
        # block) writes nothing another connection could see: leave it alone.
        self.detached = False

    def hold(self, command: Any) -> None:
        with self.lock:
            if not self.pending:
                self.held_since = time.monotonic()
            self.pending.append(command)

    def written(self) -> None:
        """The held writes were committed with another write (lock held by the caller)."""
        self.pending.clear()
        self.held_since = None
        self.keeper.extended_at = time.monotonic()

    def check(self, now: float) -> None:
        """Called by the watchdog thread every tick."""
        if self.detached or self.lease_lost:
            return
        if (
            self.pending
            and self.held_since is not None
            and now - self.held_since >= min(FLUSH_AFTER_SECONDS, self.keeper.interval)
        ):
            self._flush_held()
        elif now - self.keeper.extended_at >= self.keeper.interval * 1.5:
            self._renew()

    def _flush_held(self) -> None:
        if not self.lock.acquire(blocking=False):
            return  # the activation is writing them right now
        try:
            if not self.active or not self.pending:
                return
            try:
                self._flush(self.pending[:])
            except BaseException as exc:  # a lost lease, a database error: the activation retries
                if type(exc).__name__ == "LeaseLostError":
                    self.lease_lost = True
                logger.warning("could not commit a held step result: %r", exc)
                self.held_since = time.monotonic()
                return
            self.written()
        finally:
            self.lock.release()
            connections.close_all()

    def _renew(self) -> None:
        try:
            kept = self.keeper.keep()
        except Exception:
            logger.warning("lease renewal failed; will retry", exc_info=True)
            return
        finally:
            connections.close_all()
        if not kept:
            self.lease_lost = True
            logger.info("the lease of a blocked activation is gone; its next write stops it")


# --- The watchdog thread ---------------------------------------------------------


class _Watchdog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._heartbeats: set[Heartbeat] = set()
        self._coroutines: set[CoroutineRun] = set()
        self._abandoned: list[BodyRun] = []
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._idle = False

    def _start(self) -> None:
        # Under self._lock. Also after a fork: the parent's thread did not come along.
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._loop, name="workflow-watchdog", daemon=True
            )
            self._thread.start()
        elif self._idle:
            self._wake.set()

    def add(self, heartbeat: Heartbeat) -> None:
        with self._lock:
            self._heartbeats.add(heartbeat)
            self._start()

    def remove(self, heartbeat: Heartbeat) -> None:
        with self._lock:
            self._heartbeats.discard(heartbeat)

    def add_coroutine(self, run: CoroutineRun) -> None:
        with self._lock:
            self._coroutines.add(run)
            self._start()
        self._wake.set()  # switch to the fine tick

    def remove_coroutine(self, run: CoroutineRun) -> None:
        with self._lock:
            self._coroutines.discard(run)

    def reap(self, run: BodyRun) -> None:
        with self._lock:
            self._abandoned.append(run)
            self._start()

    def _tick(self) -> float | None:
        with self._lock:
            if self._coroutines:
                return _FINE_TICK_SECONDS
            if self._heartbeats or self._abandoned:
                intervals = [h.keeper.interval / 2 for h in self._heartbeats]
                return min([_TICK_SECONDS, *intervals])
            return None

    def _loop(self) -> None:
        quiet_since = time.monotonic()
        while True:
            tick = self._tick()
            if tick is None:
                if time.monotonic() - quiet_since > _IDLE_AFTER_SECONDS:
                    self._idle = True
                    self._wake.wait()
                    self._idle = False
                else:
                    self._wake.wait(_TICK_SECONDS)
            else:
                quiet_since = time.monotonic()
                self._wake.wait(tick)
            self._wake.clear()
            try:
                self._round()
            except Exception:  # pragma: no cover - never let the watchdog die
                logger.exception("workflow watchdog round failed")

    def _round(self) -> None:
        with self._lock:
            heartbeats = list(self._heartbeats)
            coroutines = list(self._coroutines)
            abandoned = self._abandoned[:]
        now = time.monotonic()
        for coroutine in coroutines:
            why = coroutine.over()
            if why:
                coroutine.stop(why)
        for heartbeat in heartbeats:
            heartbeat.check(now)
        for run in abandoned:
            self._confirm_stopped(run, now)

    def _confirm_stopped(self, run: BodyRun, now: float) -> None:
        if run.done:
            with self._lock:
                self._abandoned.remove(run)
            return
        if run.stopped_at is not None and now - run.stopped_at < STOP_GRACE_SECONDS:
            return
        if run.stops < 3:
            run.stop()  # it caught StepAbandoned and carried on: again
            return
        with self._lock:
            self._abandoned.remove(run)
        taint("a stopped step body does not stop (blocked in C code, or it ignores StepAbandoned)")


_watchdog = _Watchdog()


def watch(heartbeat: Heartbeat) -> contextlib.AbstractContextManager[Heartbeat]:
    """Keep ``heartbeat``'s activation alive while inside (around the replay of ``run()``)."""

    @contextlib.contextmanager
    def watching() -> Any:
        heartbeat.detached = connections["default"].in_atomic_block
        heartbeat.active = True
        _watchdog.add(heartbeat)
        try:
            yield heartbeat
        finally:
            _watchdog.remove(heartbeat)
            with heartbeat.lock:  # waits for a flush in progress to end
                heartbeat.active = False

    return watching()


# --- Tainted processes -----------------------------------------------------------

_tainted = threading.Event()
_recycles = False  # set in a Celery prefork child by install_pool_child_recycling


def tainted() -> bool:
    """True once a body thread this process cannot stop is left running."""
    return _tainted.is_set()


def taint(reason: str) -> None:
    first = not _tainted.is_set()
    _tainted.set()
    if not first:
        return
    if _recycles:
        logger.warning("%s: this worker process will be replaced after its current task", reason)
    else:
        logger.error(
            "%s: the thread keeps running in this process (only a Celery prefork "
            "child replaces itself; restart this process to reclaim it)",
            reason,
        )


def install_pool_child_recycling() -> bool:
    """In a Celery prefork (billiard) child: exit cleanly once tainted, between two tasks.

    The child checks before it waits for its next task (at least every second),
    after its last result was handed to the parent: the same point where
    ``--max-tasks-per-child`` retires a child, so no task is lost or redelivered,
    and the parent starts a replacement. Returns False (and changes nothing) if
    billiard's worker loop is not the one this was written for.
    """
    global _recycles
    try:
        from billiard import pool
    except ImportError:  # pragma: no cover
        return False
    worker_class: Any = pool.Worker
    original = getattr(worker_class, "workloop", None)
    if original is None or getattr(original, "_recycles_when_tainted", False):
        return original is not None

    def workloop(self: Any, *args: Any, **kwargs: Any) -> Any:
        receive = self.wait_for_job
        # Celery's pool reads the next job with a blocking read: look at the pipe
        # first, so an idle child notices the taint within a second.
        ready = getattr(getattr(self.inq, "_reader", None), "poll", None)

        def wait_for_job(*a: Any, **k: Any) -> Any:
            while True:
                if _tainted.is_set():
                    logger.warning(
                        "recycling this pool process: it holds a step body it cannot stop"
                    )
                    sys.exit(pool.EX_RECYCLE)  # billiard's own exit; the parent replaces it
                if ready is None or ready(1.0):
                    return receive(*a, **k)

        self.wait_for_job = wait_for_job
        return original(self, *args, **kwargs)

    workloop._recycles_when_tainted = True  # type: ignore[attr-defined]
    worker_class.workloop = workloop
    _recycles = True
    return True

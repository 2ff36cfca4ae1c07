"""The ``step`` object handed to ``run()``, and the semantics of every step kind.

Each step method is a generator yielding commands (``commands.py``); the same
generators serve ``def run`` and ``async def run``. Replay happens here: a
step whose key is already in the journal returns its stored result (or
re-raises its stored error) without running.
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import re
import time
from collections import defaultdict
from collections.abc import Callable, Generator
from typing import Any

from django.conf import settings

from workflows_app.models import StepStatus, StepType

from . import clock
from .commands import AttemptResult, Execute, Io, Park
from .durations import MAX_SLEEP_MS, Duration, to_ms
from .errors import (
    CpuLimitExceededError,
    InvalidStepError,
    NondeterminismError,
    NotPersistableError,
    PauseRequestedError,
    StepLimitExceededError,
    StepOutputError,
    WorkflowTimeoutError,
)
from .journal import store
from .retry import StepConfig, config_from_stored, next_attempt_at, resolve_config
from .serialization import check_persistable, error_from_dict, error_to_dict

MAX_STEP_NAME = 256
_CONTROL_CHARS = re.compile(r"[\x00-\x1f]")
# "-" last in the class: the API publishes this pattern in its OpenAPI schema (ECMA regex).
EVENT_TYPE_RE = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9_-]*$")
MAX_EVENT_TYPE = 100
DEFAULT_EVENT_TIMEOUT = "24 hours"

Key = tuple[str, str, int]
StepGen = Generator[Any, Any, Any]


def validate_step_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidStepError("Step name must be a non-empty string")
    if len(name) > MAX_STEP_NAME or _CONTROL_CHARS.search(name):
        raise InvalidStepError(
            f"Step name {name[:50]!r} exceeds max length ({MAX_STEP_NAME} chars) "
            "or contains control characters"
        )
    return name


def validate_event_type(event_type: Any) -> str:
    if (
        not isinstance(event_type, str)
        or len(event_type) > MAX_EVENT_TYPE
        or not EVENT_TYPE_RE.fullmatch(event_type)
    ):
        raise InvalidStepError(
            f"Event type {event_type!r} is invalid: it must match "
            f"{EVENT_TYPE_RE.pattern} and be at most {MAX_EVENT_TYPE} characters"
        )
    return event_type


def _wants_ctx(fn: Callable[..., Any]) -> bool:
    """A step body takes no argument, or one parameter named ``ctx``."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return False
    required = [
        p
        for p in params
        if p.default is inspect.Parameter.empty
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    if not required:
        return any(p.name == "ctx" for p in params)
    if len(required) == 1 and required[0].name == "ctx":
        return True
    raise InvalidStepError(
        'A step function must take no argument, or a single parameter named "ctx"'
    )


def _json_roundtrip(value: Any) -> Any:
    """What a later replay will read back, so first run and replay see the same value."""
    if value is None or isinstance(value, bool | int | str):
        return value
    return json.loads(json.dumps(value))


def _event_value(stored: dict[str, Any]) -> dict[str, Any]:
    return {
        "payload": stored["payload"],
        "timestamp": dt.datetime.fromisoformat(stored["timestamp"]),
        "type": stored["type"],
    }


class ActivationState:
    """What one activation knows: the journal read at claim time and what it adds."""

    def __init__(self, snapshot: store.Snapshot, activation: store.Activation) -> None:
        self.snapshot = snapshot
        self.activation = activation
        self.journal: dict[Key, store.JournalEntry] = {e.key: e for e in snapshot.journal}
        self.visited: set[Key] = set()
        self._counters: dict[tuple[str, str], int] = defaultdict(int)
        self.next_seq = max((e.seq for e in snapshot.journal), default=0) + 1
        self.step_count = snapshot.step_count
        self.events = list(snapshot.events)
        self.pause_requested = False
        self.nondeterminism: NondeterminismError | None = None
        # No new step starts past this point: the worker is handed back.
        self.budget_ends = time.monotonic() + settings.WORKFLOWS_ACTIVATION_BUDGET_SECONDS
        self.attempts_started = 0  # every activation may start at least one attempt

    # --- keys and replay bookkeeping ---

    def next_key(self, step_type: str, name: str) -> Key:
        self._counters[(step_type, name)] += 1
        return (step_type, name, self._counters[(step_type, name)])

    def visit(self, key: Key) -> store.JournalEntry | None:
        self.visited.add(key)
        return self.journal.get(key)

    def take_seq(self) -> int:
        """Reserve the journal position of a step being reached (parallel steps get their own)."""
        seq = self.next_seq
        self.next_seq += 1
        return seq

    def remember(self, entry: store.JournalEntry) -> None:
        if entry.key not in self.journal:
            self.next_seq = max(self.next_seq, entry.seq + 1)
        self.journal[entry.key] = entry

    def unvisited(self) -> list[store.JournalEntry]:
        return [e for k, e in self.journal.items() if k not in self.visited]

    def nondeterministic(self, message: str) -> NondeterminismError:
        error = NondeterminismError(message)
        self.nondeterminism = self.nondeterminism or error
        return error

    def take_event(self, waiter: store.JournalEntry, event_type: str) -> store.BufferedEvent | None:
        """The buffered event a wait takes next, removed from the buffer (None: none).

        A decision addressed to this wait goes first (the approvals service
        admitted it only before the deadline), then the oldest event of its type
        addressed to no wait and arrived by the deadline. A later event is never
        taken: a timed-out wait stays timed out, however late the timeout itself
        is processed. (The store re-checks all of this.)
        """
        decision = next(
            (e for e in self.events if e.type == event_type and e.for_step == waiter.pk), None
        )
        chosen = decision or next(
            (
                event
                for event in self.events
                if event.type == event_type
                and event.for_step is None
                and (waiter.wake_at is None or event.created_at <= waiter.wake_at)
            ),
            None,
        )
        if chosen is None:
            return None
        self.events.remove(chosen)
        return chosen

    def put_back(self, event: store.BufferedEvent) -> None:
        """An event taken but not consumed after all: buffered again, in arrival order."""
        self.events.append(event)
        self.events.sort(key=lambda e: e.pk)

    # --- commands ---

    def io(self, fn: Callable[..., Any], *, deferrable: bool = False, **kwargs: Any) -> Io:
        # Every fenced write also renews the lease; a running body renews it
        # through the driver's heartbeat.
        return Io(deferrable=deferrable, fn=fn, kwargs={"activation": self.activation, **kwargs})

    def boundary(self, command: Io) -> StepGen:
        """Perform a write that starts new work; a pending pause parks the caller here."""
        try:
            return (yield command)
        except PauseRequestedError:
            self.pause_requested = True
            yield Park(None)


# --- step.do ------------------------------------------------------------------


def do_step(state: ActivationState, key: Key, fn: Callable[..., Any], config: Any) -> StepGen:
    name = key[1]
    entry = state.visit(key)
    if entry is not None and entry.status == StepStatus.SUCCEEDED:
        return entry.output
    if entry is not None and entry.status == StepStatus.FAILED:
        raise error_from_dict(entry.error or {})
    resolved = _step_config(state, entry, config, name=name)
    wants_ctx = _wants_ctx(fn)

    while True:
        yield from _before_attempt(state, entry, resolved)
        started, result = yield from _run_attempt(state, key, entry, fn, resolved, wants_ctx)
        entry = started.entry
        error, output, output_bytes = _attempt_outcome(state, result, resolved, name=name)
        finish: dict[str, Any] = {
            "entry": entry,
            "attempt_pk": started.attempt_pk,
            "timed_out": result.timed_out,
            "cpu_ms": result.cpu_ms,
            "wall_ms": result.wall_ms,
        }
        if error is None:
            yield state.io(
                store.attempt_finish,
                output=output,
                output_bytes=output_bytes,
                deferrable=True,
                **finish,
            )
            return output

        stored_error = error_to_dict(error)
        retry_at = next_attempt_at(resolved, attempt=started.number, error=error, now=clock.now())
        yield state.io(store.attempt_finish, error=stored_error, retry_at=retry_at, **finish)
        if retry_at is None:
            raise error_from_dict(stored_error) from error


def _step_config(
    state: ActivationState, entry: store.JournalEntry | None, config: Any, *, name: str
) -> StepConfig:
    if entry is not None:
        # Replays use the config persisted on first execution, as Cloudflare does.
        return config_from_stored(entry.config or {})
    limit = settings.WORKFLOWS_MAX_STEPS
    if state.step_count >= limit:
        raise StepLimitExceededError(
            f"The limit of {limit} steps has been reached (setting WORKFLOWS_MAX_STEPS)."
        )
    return resolve_config(config, step_name=name)


def _before_attempt(
    state: ActivationState, entry: store.JournalEntry | None, resolved: StepConfig
) -> StepGen:
    """Wait out a retry's delay, hand the worker back past the budget, or give up a poison step."""
    if (
        entry is not None
        and entry.status == StepStatus.RETRYING
        and entry.wake_at is not None
        and entry.wake_at > clock.now()
    ):
        yield Park(entry.wake_at)
    if state.attempts_started and time.monotonic() > state.budget_ends:
        # This activation has run long enough: replay resumes here at once,
        # in a fresh activation (on any worker).
        yield Park(clock.now())
    if entry is not None and entry.attempt_count > resolved.retries.limit:
        # Every allowed attempt was started and lost with its worker: a poison step.
        yield from state.boundary(state.io(store.step_abandon, entry=entry))
        raise error_from_dict(store.WORKER_LOST)


def _run_attempt(
    state: ActivationState,
    key: Key,
    entry: store.JournalEntry | None,
    fn: Callable[..., Any],
    resolved: StepConfig,
    wants_ctx: bool,
) -> StepGen:
    """Record that an attempt starts, then run the body once; returns (started, result)."""
    started: store.AttemptStarted = yield from state.boundary(
        state.io(
            store.attempt_start,
            entry=entry,
            key=key,
            seq=state.take_seq(),
            config=resolved.as_dict(),
        )
    )
    state.attempts_started += 1
    if entry is None:
        state.step_count += 1
    state.remember(started.entry)
    ctx = {
        "attempt": started.number,
        "step": {"name": key[1], "count": key[2]},
        "config": resolved.as_dict(),
    }
    result: AttemptResult = yield Execute(
        fn, (ctx,) if wants_ctx else (), resolved.timeout_ms / 1000
    )
    return started, result


def _attempt_outcome(
    state: ActivationState, result: AttemptResult, resolved: StepConfig, *, name: str
) -> tuple[BaseException | None, Any, int]:
    """The attempt's error (timeout, CPU limit, unstorable output) or its output and size."""
    error = result.error
    if result.timed_out:
        error = WorkflowTimeoutError(f"Execution timed out after {int(resolved.timeout_ms)}ms")
    cpu_limit = state.snapshot.cpu_ms_per_step_limit
    if error is None and cpu_limit is not None and result.cpu_ms > cpu_limit:
        error = CpuLimitExceededError(
            f"CPU limit exceeded: the attempt used {result.cpu_ms:.1f} ms of CPU time; "
            f"the account's plan allows {cpu_limit} ms per step"
        )
    if error is not None:
        return error, None, 0
    try:
        output_bytes = check_persistable(result.value, what=f'The output of step "{name}"')
    except NotPersistableError as exc:
        return StepOutputError(str(exc)), None, 0
    return None, _json_roundtrip(result.value), output_bytes


# --- step.sleep / step.sleep_until --------------------------------------------


def sleep_step(
    state: ActivationState,
    key: Key,
    *,
    duration_ms: float | None = None,
    until: dt.datetime | None = None,
) -> StepGen:
    entry = state.visit(key)
    if entry is not None and entry.status == StepStatus.SUCCEEDED:
        return None
    if entry is not None and entry.status == StepStatus.CANCELLED:
        yield Park(None)  # abandoned by run() earlier: it never ends
    if entry is None:
        now = clock.now()
        if until is None:
            target = now + dt.timedelta(milliseconds=duration_ms or 0)
        elif until <= now:
            raise InvalidStepError("You can't sleep until a time in the past, time-traveler")
        else:
            target = until
        if (target - now).total_seconds() * 1000 > MAX_SLEEP_MS:
            raise InvalidStepError("A sleep cannot last longer than 365 days")
        entry = yield from state.boundary(
            state.io(
                store.waiter_register,
                key=key,
                seq=state.take_seq(),
                wake_at=target,
                detail={"until": target.isoformat()},
            )
        )
        state.remember(entry)
    if entry.wake_at is not None and clock.now() < entry.wake_at:
        yield Park(entry.wake_at, on_cancel=state.io(store.waiter_cancel, entry=entry))
    yield from state.boundary(state.io(store.waiter_finish, entry=entry))
    return None


def sleep_until_target(when: Any) -> dt.datetime:
    """Accept an aware datetime or epoch milliseconds."""
    if isinstance(when, dt.datetime):
        if when.tzinfo is None:
            raise InvalidStepError("sleep_until needs a timezone-aware datetime")
        return when
    if isinstance(when, int | float) and not isinstance(when, bool):
        return dt.datetime.fromtimestamp(when / 1000, tz=dt.UTC)
    raise InvalidStepError("sleep_until takes a datetime or epoch milliseconds")


# --- step.wait_for_event --------------------------------------------------------


def wait_step(state: ActivationState, key: Key, *, event_type: str, timeout_ms: float) -> StepGen:
    entry = state.visit(key)
    if entry is not None and (entry.detail or {}).get("type") != event_type:
        raise state.nondeterministic(
            f'Step "{key[1]}-{key[2]}" waited for events of type '
            f"{(entry.detail or {}).get('type')!r} but the code now waits for {event_type!r}"
        )
    if entry is not None and entry.status == StepStatus.SUCCEEDED:
        return _event_value(entry.output)
    if entry is not None and entry.status == StepStatus.FAILED:
        raise error_from_dict(entry.error or {})
    if entry is not None and entry.status == StepStatus.CANCELLED:
        yield Park(None)  # abandoned by run() earlier: it never takes an event
    if entry is None:
        entry = yield from state.boundary(
            state.io(
                store.waiter_register,
                key=key,
                seq=state.take_seq(),
                wake_at=clock.now() + dt.timedelta(milliseconds=timeout_ms),
                detail={"type": event_type, "timeout_ms": timeout_ms},
            )
        )
        state.remember(entry)
    while (event := state.take_event(entry, event_type)) is not None:
        output = {
            "payload": event.payload,
            "timestamp": event.created_at.isoformat(),
            "type": event_type,
        }
        try:
            taken = yield from state.boundary(
                state.io(store.waiter_finish, entry=entry, output=output, event_pk=event.pk)
            )
        except BaseException:
            state.put_back(event)  # not consumed after all: still buffered
            raise
        if taken:
            return _event_value(output)
    if entry.wake_at is not None and clock.now() < entry.wake_at:
        yield Park(entry.wake_at, on_cancel=state.io(store.waiter_cancel, entry=entry))
    # Timed out: the waiter is closed for good, so no later event is swallowed by it.
    stored_error = error_to_dict(
        WorkflowTimeoutError(f"Execution timed out after {int(timeout_ms)}ms")
    )
    seen = [e.pk for e in state.snapshot.events if e.type == event_type]
    timed_out = yield from state.boundary(
        state.io(store.waiter_finish, entry=entry, error=stored_error, seen_events=seen)
    )
    if not timed_out:
        # An event arrived by the deadline after this activation read its events:
        # its arrival wakes the instance at once, and the next activation takes it.
        yield Park(entry.wake_at, on_cancel=state.io(store.waiter_cancel, entry=entry))
    raise error_from_dict(stored_error)


# --- The public step objects ----------------------------------------------------


class WorkflowStep:
    """The ``step`` argument of ``run()``: the only way to do durable work.

    In ``async def run`` the methods return awaitables; in a plain ``def run``
    they return values directly.
    """

    def __init__(self, state: ActivationState, driver: Any) -> None:
        self._state = state
        self._driver = driver

    def _perform(self, generator: StepGen) -> Any:
        return self._driver.perform(generator)

    def do(
        self,
        name: str | Callable[..., Any] | None = None,
        fn: Callable[..., Any] | None = None,
        *,
        config: dict[str, Any] | None = None,
    ) -> Any:
        """Run ``fn`` once, durably: its result is persisted and replayed, failures retried.

        ``fn`` takes no argument, or one parameter named ``ctx`` receiving
        ``{"attempt", "step": {"name", "count"}, "config"}``. ``config`` is
        ``{"retries": {"limit", "delay", "backoff"}, "timeout": ...}``.

        Decorator form: ``@step.do("name", config=...)`` (or ``@step.do()``,
        named after the function), then call the decorated function.
        """
        if fn is None:
            if callable(name):  # bare ``@step.do``
                return self._decorate(None, config)(name)
            return self._decorate(name, config)
        key = self._state.next_key(StepType.DO, validate_step_name(name))
        return self._perform(do_step(self._state, key, fn, config))

    def _decorate(
        self, name: str | None, config: dict[str, Any] | None
    ) -> Callable[[Callable[..., Any]], Callable[[], Any]]:
        def decorator(fn: Callable[..., Any]) -> Callable[[], Any]:
            step_name = name if name is not None else fn.__name__

            def call() -> Any:
                return self.do(step_name, fn, config=config)

            call.__name__ = fn.__name__
            call.__doc__ = fn.__doc__
            return call

        return decorator

    def sleep(self, name: str, duration: Duration) -> Any:
        """Suspend durably for ``duration`` (ms, "N unit(s)", or timedelta; at most 365 days)."""
        validate_step_name(name)
        duration_ms = to_ms(duration, what="sleep duration")
        if duration_ms > MAX_SLEEP_MS:
            raise InvalidStepError("A sleep cannot last longer than 365 days")
        key = self._state.next_key(StepType.SLEEP, name)
        return self._perform(sleep_step(self._state, key, duration_ms=duration_ms))

    def sleep_until(self, name: str, when: dt.datetime | int | float) -> Any:
        """Suspend durably until ``when`` (aware datetime or epoch ms); the past is an error."""
        validate_step_name(name)
        target = sleep_until_target(when)
        key = self._state.next_key(StepType.SLEEP, name)
        return self._perform(sleep_step(self._state, key, until=target))

    def wait_for_event(
        self, name: str, type: str, timeout: Duration = DEFAULT_EVENT_TIMEOUT
    ) -> Any:
        """Wait durably for an event of ``type``; returns ``{"payload", "timestamp", "type"}``.

        Events sent earlier are buffered per type and taken oldest first. On
        timeout a catchable WorkflowTimeoutError is raised.
        """
        validate_step_name(name)
        validate_event_type(type)
        timeout_ms = to_ms(timeout, what="wait_for_event timeout")
        if timeout_ms == 0 or timeout_ms > MAX_SLEEP_MS:
            raise InvalidStepError("wait_for_event timeout must be > 0 and at most 365 days")
        key = self._state.next_key(StepType.WAIT_FOR_EVENT, name)
        return self._perform(wait_step(self._state, key, event_type=type, timeout_ms=timeout_ms))

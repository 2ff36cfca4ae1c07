"""System checks: a bad dispatcher or an out-of-range duration setting fails at start-up.

Registered from ``apps.py``; ``manage.py check``, ``runserver`` and every
management command (the scheduler and the worker included) run them, so a
misconfiguration stops the process before it dispatches anything instead of
at the first instance it meets.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.core.exceptions import ImproperlyConfigured

from workflows_app.engine.dispatch import load_dispatcher_class
from workflows_app.engine.durations import to_ms
from workflows_app.engine.errors import InvalidStepError
from workflows_app.engine.retry import DEFAULT_TIMEOUT

# Duration settings, in seconds, that must be greater than 0.
_POSITIVE = (
    "WORKFLOWS_LEASE_SECONDS",
    "WORKFLOWS_STEP_TIMEOUT_MAX_SECONDS",
    "WORKFLOWS_SCHEDULER_POLL_SECONDS",
)
# And those where 0 is allowed (a budget of 0: each activation runs one step
# and hands the instance back; a precise-timer window of 0: the scheduler only).
_NOT_NEGATIVE = (
    "WORKFLOWS_ACTIVATION_BUDGET_SECONDS",
    "WORKFLOWS_PRECISE_TIMER_SECONDS",
)


def check_dispatcher(**kwargs: Any) -> list[CheckMessage]:
    """``WORKFLOWS_DISPATCHER`` imports and names a BaseDispatcher subclass."""
    path = settings.WORKFLOWS_DISPATCHER
    try:
        load_dispatcher_class(path)
    except ImproperlyConfigured as exc:
        # Raised from the ImportError when the path does not import.
        cannot_import = isinstance(exc.__cause__, ImportError)
        return [
            Error(
                str(exc),
                hint="Use workflows_app.tasks.CeleryDispatcher, "
                "workflows_app.engine.inline.InlineDispatcher, or your own subclass of "
                "workflows_app.engine.dispatch.BaseDispatcher.",
                id="workflows.E001" if cannot_import else "workflows.E002",
            )
        ]
    return []


def check_durations(**kwargs: Any) -> list[CheckMessage]:
    """Every duration setting is a number in its range."""
    errors: list[CheckMessage] = [
        error
        for names, zero_allowed in ((_POSITIVE, False), (_NOT_NEGATIVE, True))
        for name in names
        if (error := _out_of_range(name, zero_allowed=zero_allowed)) is not None
    ]
    try:
        to_ms(settings.WORKFLOWS_DEFAULT_RETRY_DELAY, what="WORKFLOWS_DEFAULT_RETRY_DELAY")
    except InvalidStepError as exc:
        errors.append(Error(str(exc), id="workflows.E004"))
    return errors


def _out_of_range(name: str, *, zero_allowed: bool) -> Error | None:
    value = getattr(settings, name)
    if _is_number(value) and (value >= 0 if zero_allowed else value > 0):
        return None
    allowed = "0 or more" if zero_allowed else "greater than 0"
    return Error(
        f"{name} must be a number of seconds {allowed}, not {value!r}.", id="workflows.E003"
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_duration_relations(**kwargs: Any) -> list[CheckMessage]:
    """The relations between durations the engine and the Celery set-up rely on."""
    messages: list[CheckMessage] = []
    longest_step = settings.WORKFLOWS_STEP_TIMEOUT_MAX_SECONDS
    budget = settings.WORKFLOWS_ACTIVATION_BUDGET_SECONDS
    if not (_is_number(longest_step) and _is_number(budget)):
        return messages  # check_durations reports it
    default_timeout_s = to_ms(DEFAULT_TIMEOUT) / 1000
    if longest_step < default_timeout_s:
        messages.append(
            Error(
                f"WORKFLOWS_STEP_TIMEOUT_MAX_SECONDS ({longest_step}) is below the default step "
                f"timeout ({DEFAULT_TIMEOUT}): every step.do without its own timeout would be "
                "refused.",
                id="workflows.E005",
            )
        )
    hard_limit = getattr(settings, "CELERY_TASK_TIME_LIMIT", None)
    if hard_limit is not None and hard_limit <= longest_step + budget:
        messages.append(
            Error(
                f"CELERY_TASK_TIME_LIMIT ({hard_limit}) must exceed "
                "WORKFLOWS_STEP_TIMEOUT_MAX_SECONDS + WORKFLOWS_ACTIVATION_BUDGET_SECONDS "
                f"({longest_step + budget}): an activation may run its budget and then one "
                "step of the longest timeout, and Celery would kill it midway.",
                id="workflows.E006",
            )
        )
    visibility = getattr(settings, "CELERY_VISIBILITY_TIMEOUT", None)
    if hard_limit is not None and visibility is not None and visibility <= hard_limit:
        # Harmless for correctness (a duplicate delivery finds the lease live and
        # does nothing), hence a warning: the fault tests run workers this way.
        messages.append(
            Warning(
                f"CELERY_VISIBILITY_TIMEOUT ({visibility}) is not above CELERY_TASK_TIME_LIMIT "
                f"({hard_limit}): Redis may hand a task still running to a second worker.",
                id="workflows.W001",
            )
        )
    return messages

"""Step configuration (strict validation, Cloudflare's defaults) and the retry decision."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from django.conf import settings

from .durations import to_ms
from .errors import InvalidStepError, NonRetryableError

BACKOFFS = ("constant", "linear", "exponential")
MAX_RETRY_LIMIT = 10_000
DEFAULT_LIMIT = 5
DEFAULT_BACKOFF = "exponential"
DEFAULT_TIMEOUT = "10 minutes"


@dataclasses.dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    limit: int  # retries, not attempts: a step runs at most limit + 1 times
    delay: int | float | str
    backoff: str

    def delay_ms(self, failed_attempt: int) -> float:
        """Delay before the attempt after ``failed_attempt`` (1-based)."""
        base = to_ms(self.delay, what="retries.delay")
        if self.backoff == "constant":
            return base
        if self.backoff == "linear":
            return base * failed_attempt
        factor: int = 2 ** (failed_attempt - 1)
        return base * factor


@dataclasses.dataclass(frozen=True, kw_only=True)
class StepConfig:
    retries: RetryPolicy
    timeout: int | float | str

    @property
    def timeout_ms(self) -> float:
        return to_ms(self.timeout, what="timeout")

    def as_dict(self) -> dict[str, Any]:
        """The shape Cloudflare shows in ``ctx["config"]`` and the REST API."""
        return {
            "retries": {
                "limit": self.retries.limit,
                "delay": self.retries.delay,
                "backoff": self.retries.backoff,
            },
            "timeout": self.timeout,
        }


def _storable(duration: Any) -> Any:
    """The config is persisted as JSON: a timedelta is stored as milliseconds."""
    if isinstance(duration, dt.timedelta):
        ms = to_ms(duration)
        return int(ms) if ms.is_integer() else ms
    return duration


def _reject_unknown(given: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise InvalidStepError(
            f"Step config for {where} has unknown key(s) {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )


def resolve_config(config: Any, *, step_name: str) -> StepConfig:
    """Merge ``config`` over the defaults field by field, validating everything."""
    where = f'"{step_name}"'
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise InvalidStepError(
            f"Step config for {where} must be a dict, not {type(config).__name__}"
        )
    _reject_unknown(config, {"retries", "timeout"}, where)
    retries = config.get("retries") or {}
    if not isinstance(retries, dict):
        raise InvalidStepError(f"Step config for {where}: retries must be a dict")
    _reject_unknown(retries, {"limit", "delay", "backoff"}, f"{where} (retries)")

    limit = retries.get("limit", DEFAULT_LIMIT)
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise InvalidStepError(f"Step config for {where}: retries.limit must be an integer")
    if not 0 <= limit <= MAX_RETRY_LIMIT:
        raise InvalidStepError(
            f"Step config for {where}: retries.limit must be between 0 and {MAX_RETRY_LIMIT}"
        )
    delay = retries.get("delay", settings.WORKFLOWS_DEFAULT_RETRY_DELAY)
    to_ms(delay, what=f"Step config for {where}: retries.delay")
    backoff = retries.get("backoff", DEFAULT_BACKOFF)
    if backoff not in BACKOFFS:
        raise InvalidStepError(
            f"Step config for {where}: retries.backoff must be one of {', '.join(BACKOFFS)}"
        )
    timeout = config.get("timeout", DEFAULT_TIMEOUT)
    timeout_ms = to_ms(timeout, what=f"Step config for {where}: timeout")
    if timeout_ms == 0:
        raise InvalidStepError(f"Step config for {where}: timeout must be greater than 0")
    longest = settings.WORKFLOWS_STEP_TIMEOUT_MAX_SECONDS
    if timeout_ms > longest * 1000:
        raise InvalidStepError(
            f"Step config for {where}: timeout must be at most {longest} seconds "
            "(setting WORKFLOWS_STEP_TIMEOUT_MAX_SECONDS)"
        )
    return StepConfig(
        retries=RetryPolicy(limit=limit, delay=_storable(delay), backoff=backoff),
        timeout=_storable(timeout),
    )


def config_from_stored(stored: dict[str, Any]) -> StepConfig:
    """Rebuild the config persisted on first execution (replays use it, not the code's)."""
    retries = stored["retries"]
    return StepConfig(
        retries=RetryPolicy(
            limit=retries["limit"], delay=retries["delay"], backoff=retries["backoff"]
        ),
        timeout=stored["timeout"],
    )


def next_attempt_at(
    config: StepConfig, *, attempt: int, error: BaseException, now: dt.datetime
) -> dt.datetime | None:
    """When the step runs again after its attempt number ``attempt`` failed; None: never.

    A NonRetryableError (its subclasses too, matched by class) fails the step
    at once; any other error is retried until the step has run limit + 1 times.
    """
    if isinstance(error, NonRetryableError) or attempt > config.retries.limit:
        return None
    return now + dt.timedelta(milliseconds=config.retries.delay_ms(attempt))

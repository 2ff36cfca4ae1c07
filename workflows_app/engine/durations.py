"""Parse the durations Cloudflare accepts: milliseconds, "N unit(s)" strings, timedeltas."""

import datetime as dt
import math
import re

from .errors import InvalidStepError

# Months and years are fixed-length, as in Cloudflare's parser.
_UNIT_MS = {
    "millisecond": 1,
    "second": 1_000,
    "minute": 60_000,
    "hour": 3_600_000,
    "day": 86_400_000,
    "week": 7 * 86_400_000,
    "month": 30 * 86_400_000,
    "year": 365 * 86_400_000,
}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s+([a-z]+?)s?\s*$")

MAX_SLEEP_MS = 365 * 86_400_000

Duration = int | float | str | dt.timedelta


def to_ms(value: Duration, *, what: str = "duration") -> float:
    """Return the duration in milliseconds, or raise InvalidStepError saying why."""
    if isinstance(value, bool):
        raise InvalidStepError(f"{what} must be a number of milliseconds, a string or a timedelta")
    if isinstance(value, dt.timedelta):
        ms = value.total_seconds() * 1000
    elif isinstance(value, int | float):
        ms = float(value)
    elif isinstance(value, str):
        match = _DURATION_RE.match(value.lower())
        if not match or match.group(2) not in _UNIT_MS:
            raise InvalidStepError(
                f'{what} {value!r} is not a valid duration: use milliseconds or "N unit(s)" '
                f"with a unit among {', '.join(u for u in _UNIT_MS if u != 'millisecond')}"
            )
        ms = float(match.group(1)) * _UNIT_MS[match.group(2)]
    else:
        raise InvalidStepError(
            f"{what} must be a number of milliseconds, a string or a timedelta, "
            f"not {type(value).__name__}"
        )
    if math.isnan(ms) or math.isinf(ms):
        raise InvalidStepError(f"{what} must be finite")
    if ms < 0:
        raise InvalidStepError(f"{what} must not be negative")
    return ms

"""Retention requests: the durations a workflow or an instance may ask to be kept, up to the plan's.

How long a finished instance is then actually kept (``purge_after``) is the
engine journal's policy; this module only validates what is asked for.
"""

from __future__ import annotations

from typing import Any

from workflows_app.engine.durations import to_ms
from workflows_app.engine.errors import InvalidInputError, InvalidStepError
from workflows_app.models import Plan


def parse_retention(value: dict[str, Any] | None, *, plan: Plan) -> dict[str, int] | None:
    """``{"success_retention", "error_retention"}`` durations (ms, "N unit(s)") → seconds.

    Refused above the plan's maximum: retention is bought, not asked for.
    """
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidInputError(
            "Retention is an object with success_retention and/or error_retention, "
            f"not {type(value).__name__}"
        )
    unknown = set(value) - {"success_retention", "error_retention"}
    if unknown:
        raise InvalidInputError(
            f"Retention takes success_retention and error_retention, not {sorted(unknown)}"
        )
    longest = plan.max_retention_days * 86400
    chosen: dict[str, int] = {}
    for key in ("success_retention", "error_retention"):
        if value.get(key) is None:
            continue
        try:  # to_ms refuses a type slip (true, a list), never reads it as 0
            seconds = to_ms(value[key], what=key) / 1000
        except InvalidStepError as exc:
            raise InvalidInputError(str(exc)) from None
        if seconds > longest:
            raise InvalidInputError(
                f"{key} of {seconds / 86400:g} days is over the {plan.name} plan's maximum "
                f"of {plan.max_retention_days} days"
            )
        chosen[key.removesuffix("_retention")] = int(seconds)
    return chosen or None

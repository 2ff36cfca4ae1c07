"""What the console says about instances: their activity in words, their journal, their CPU.

Reads go through ``selectors``; this module only assembles and phrases them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

from workflows_app import selectors
from workflows_app.billing.plans import plan_of
from workflows_app.engine import clock
from workflows_app.models import Account, Instance, StepRecord, StepStatus, StepType
from workflows_app.presenters import StepView

STEPS_PER_PAGE = 100
MILLION = Decimal(10**6)


def _humanize(delta: dt.timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def describe_step(step: StepRecord, now: dt.datetime) -> str:
    """What an instance is doing, in plain language, from its open step."""
    wake = step.wake_at
    if step.type == StepType.SLEEP:
        return f"sleeping until {wake:%Y-%m-%d %H:%M} UTC" if wake else f"sleeping in {step.name}"
    if step.type == StepType.WAIT_FOR_EVENT:
        event_type = (step.detail or {}).get("type", "?")
        until = f" until {wake:%Y-%m-%d %H:%M} UTC" if wake else ""
        return f"waiting for event “{event_type}”{until}"
    limit = ((step.config or {}).get("retries") or {}).get("limit", 0) + 1
    if step.status == StepStatus.RETRYING and wake:
        when = f"next attempt in {_humanize(wake - now)}" if wake > now else "next attempt due now"
        return f"retrying “{step.name}” {step.attempt_count}/{limit}, {when}"
    return f"running “{step.name}” (attempt {step.attempt_count}/{limit})"


def activities_of(instances: list[Instance]) -> dict[int, str]:
    """The open step of each live instance, described; one query for the whole page."""
    open_steps = selectors.open_steps_of(instances=instances)
    now = clock.now()
    return {pk: describe_step(step, now) for pk, step in open_steps.items()}


# --- the journal, a page at a time ------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class StepPage:
    steps: list[StepView]
    number: int  # 1-based
    pages: int
    total: int
    first_counter: int  # 1-based position of the first step shown

    @property
    def last_counter(self) -> int:
        return self.first_counter + len(self.steps) - 1


def step_page(*, instance: Instance, number: int | None = None) -> StepPage:
    """One page of the journal in the order steps were reached (default: the newest page)."""
    total = selectors.step_count(instance=instance)
    pages = max(1, -(-total // STEPS_PER_PAGE))
    number = pages if number is None else min(max(1, number), pages)
    offset = (number - 1) * STEPS_PER_PAGE
    records = selectors.step_records(instance=instance, offset=offset, limit=STEPS_PER_PAGE)
    return StepPage(
        steps=[StepView.of(r) for r in records],  # a step.do's cpu_ms sums its attempts
        number=number,
        pages=pages,
        total=total,
        first_counter=offset + 1,
    )


# --- CPU and its cost per instance ----------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class InstanceCpu:
    steps_ms: Decimal  # every attempt of every step
    replay_ms: Decimal  # re-running run() up to the next step, on each wake-up
    price_per_million_ms: Decimal

    @property
    def total_ms(self) -> Decimal:
        return self.steps_ms + self.replay_ms

    @property
    def cost(self) -> Decimal:
        """Exact (not rounded to the cent): one instance often costs a fraction of one."""
        return self.total_ms * self.price_per_million_ms / MILLION


def instance_cpu(*, account: Account, instance: Instance) -> InstanceCpu:
    """The instance's CPU time and its price at the account's plan (one aggregate query)."""
    return InstanceCpu(
        steps_ms=selectors.instance_attempts_cpu_ms(instance=instance),
        replay_ms=Decimal(instance.replay_cpu_us) / 1000,
        price_per_million_ms=plan_of(account).price_per_million_cpu_ms,
    )

"""Commands the step logic yields to whichever driver runs it.

The semantics of every step live once, in generators (``context.py``) that
yield these commands. The sync driver (plain ``def run``) and the async driver
(``async def run``) only differ in how they *perform* them: call the store
directly or hop to the activation thread, wait on a thread or await a task,
raise a suspension or park a future.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass(frozen=True)
class Io:
    """Run a journal-store function (fenced DB write) in the activation thread.

    A ``deferrable`` write (a step's success) may be held back and committed
    in the same transaction as the next write, halving commits per step. The
    drivers never hold one while another branch's step body is running.
    """

    fn: Callable[..., Any]
    kwargs: dict[str, Any]
    deferrable: bool = False


@dataclasses.dataclass(frozen=True)
class Execute:
    """Run one attempt of a step body with a timeout; the result is an AttemptResult."""

    fn: Callable[..., Any]
    args: tuple[Any, ...]
    timeout_s: float


@dataclasses.dataclass(frozen=True)
class Park:
    """Nothing more can happen in this activation until ``deadline`` (None: a pause).

    The driver never resumes the step after a Park: the activation suspends
    and a later activation replays ``run()`` up to this point again.
    """

    deadline: dt.datetime | None
    # Written if run() itself cancels the parked branch (not when suspending).
    on_cancel: Io | None = None


@dataclasses.dataclass(kw_only=True)
class AttemptResult:
    value: Any = None
    error: BaseException | None = None
    timed_out: bool = False
    cpu_ms: float = 0.0
    wall_ms: float = 0.0

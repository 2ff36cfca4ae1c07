"""The database's clock: what every lease and due-time comparison is made with.

A lease or a timer is compared with the time *the database* reads, inside the
statement that decides (``statement_timestamp()`` on PostgreSQL), never with
the clock of the process that sends the statement: a worker or a scheduler
whose host clock is skewed can then neither steal a live lease nor hold back
due work. SQLite is embedded: its clock is the one machine's clock, so there
the process reads it (``timezone.now()``). A test's ``ManualClock`` stands in
for the database's clock too (``clock.set_clock``), so tests can move time on
either database.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import connection
from django.db.models import DateTimeField, Expression, ExpressionWrapper, Value
from django.db.models.functions import Now
from django.utils import timezone

from .. import clock


def _fixed() -> dt.datetime | None:
    """The time to use as a value, or None when PostgreSQL reads its own clock."""
    fixed = clock.database_time()
    if fixed is not None:
        return fixed
    if connection.vendor == "postgresql":
        return None
    return timezone.now()  # SQLite: this machine's clock is the database's


def now() -> Expression:
    """The database's current time, as an expression for a query."""
    fixed = _fixed()
    if fixed is None:
        return Now()  # STATEMENT_TIMESTAMP() on PostgreSQL
    return Value(fixed, output_field=DateTimeField())


def after(seconds: float) -> Expression:
    """The database's current time plus ``seconds`` (a lease's end, a grace's start)."""
    fixed = _fixed()
    delta = dt.timedelta(seconds=seconds)
    if fixed is None:
        return ExpressionWrapper(Now() + Value(delta), output_field=DateTimeField())
    return Value(fixed + delta, output_field=DateTimeField())


def sql(plus_seconds: float = 0.0, *, name: str = "db_now") -> tuple[str, dict[str, Any]]:
    """The database's current time (plus ``plus_seconds``) for raw SQL.

    Returns an SQL fragment and its named parameters (``%(name)s`` style).
    """
    fixed = _fixed()
    if fixed is None:
        if not plus_seconds:
            return "statement_timestamp()", {}
        return f"(statement_timestamp() + make_interval(secs => %({name})s))", {
            name: float(plus_seconds)
        }
    value = fixed + dt.timedelta(seconds=plus_seconds)
    return f"%({name})s", {name: connection.ops.adapt_datetimefield_value(value)}


def read() -> dt.datetime:
    """The database's current time as a value (one query on PostgreSQL)."""
    fixed = _fixed()
    if fixed is not None:
        return fixed
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement_timestamp()")
        value: dt.datetime = cursor.fetchone()[0]
    return value

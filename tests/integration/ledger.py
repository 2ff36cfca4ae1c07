"""The side-effect ledger: raw autocommit tables, outside Django's models and migrations.

Step bodies record each *entry* here before doing anything else, so a body
that is killed, stalled or fenced still leaves its row: duplicates are counted,
not guessed. ``itest_flag`` rows are barriers a test raises to release a body.
"""

from __future__ import annotations

import os
import time

from django.db import connection

TABLES = {
    "postgresql": [
        "CREATE TABLE IF NOT EXISTS itest_ledger (id BIGSERIAL PRIMARY KEY, key TEXT NOT NULL,"
        " step TEXT NOT NULL, attempt INTEGER NOT NULL, pid INTEGER NOT NULL,"
        " pgid INTEGER NOT NULL, at TIMESTAMPTZ NOT NULL DEFAULT now())",
        "CREATE TABLE IF NOT EXISTS itest_flag (key TEXT NOT NULL, name TEXT NOT NULL)",
    ],
    "sqlite": [
        "CREATE TABLE IF NOT EXISTS itest_ledger (id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " key TEXT NOT NULL, step TEXT NOT NULL, attempt INTEGER NOT NULL,"
        " pid INTEGER NOT NULL, pgid INTEGER NOT NULL,"
        " at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)",
        "CREATE TABLE IF NOT EXISTS itest_flag (key TEXT NOT NULL, name TEXT NOT NULL)",
    ],
}


def create_tables() -> None:
    with connection.cursor() as cursor:
        for statement in TABLES[connection.vendor]:
            cursor.execute(statement)


def enter(key: str, step: str, attempt: int = 1) -> str:
    """Record that a step body started, committed at once (autocommit)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO itest_ledger (key, step, attempt, pid, pgid) VALUES (%s, %s, %s, %s, %s)",
            [key, step, attempt, os.getpid(), os.getpgid(0)],
        )
    return step


def entries(key: str, step: str | None = None) -> list[dict[str, int | str]]:
    sql = "SELECT step, attempt, pid, pgid FROM itest_ledger WHERE key = %s"
    params: list[str] = [key]
    if step is not None:
        sql += " AND step = %s"
        params.append(step)
    with connection.cursor() as cursor:
        cursor.execute(sql + " ORDER BY id", params)
        return [
            {"step": s, "attempt": a, "pid": pid, "pgid": pgid}
            for s, a, pid, pgid in cursor.fetchall()
        ]


def count(key: str, step: str) -> int:
    return len(entries(key, step))


def raise_flag(key: str, name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO itest_flag (key, name) VALUES (%s, %s)", [key, name])


def wait_flag(key: str, name: str, *, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM itest_flag WHERE key = %s AND name = %s", [key, name])
            if cursor.fetchone():
                return True
        time.sleep(0.05)
    return False
